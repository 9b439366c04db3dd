"""Re-ingest semantics, per-file failures and uploads, with the fake embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.service import ingest_paths
from ingest.sources import Shard, discover
from ingest.uploads import Upload, ingest_uploads
from retrieval.errors import EmbeddingModelMismatch, InvalidRequest
from retrieval.settings import Settings
from retrieval.store import ChunkStore, doc_id_for
from retrieval.tokens import count_tokens
from retrieval.write_pacing import INTERACTIVE_TARGET_SECONDS, WritePacing
from tests.fakes import FakeEmbedder

LOREM = " ".join(f"Sentence {i} says something about topic {i % 7}." for i in range(60))


def corpus(root: Path, n: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i}.txt").write_text(f"Document {i}. {LOREM}")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "notes.md").write_text("# Notes\n\nSome *notes*.\n\n## More\n\n" + LOREM)
    return root


async def run(ingestor: Ingestor, root: Path, **options):
    return await ingestor.ingest(discover([root]), **options)


def index_state(ingestor: Ingestor, name: str = "default"):
    return sorted((c.id, c.text) for c in ingestor.store.iter_chunks(name))


async def test_unchanged_corpus_makes_zero_embedding_calls(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs")
    first = await run(memory_ingestor, root)
    assert first.count("ingested") == 6
    assert first.ok
    assert first.embedding_calls > 0
    before = index_state(memory_ingestor)
    calls = memory_ingestor.embedder.calls
    second = await run(memory_ingestor, root)
    assert second.count("unchanged") == 6
    assert second.embedding_calls == 0
    assert memory_ingestor.embedder.calls == calls
    assert (second.chunks_added, second.chunks_removed) == (0, 0)
    assert index_state(memory_ingestor) == before


async def test_batches_span_documents(memory_ingestor, tmp_path):
    for i in range(24):
        (tmp_path / f"short{i}.txt").write_text(f"Short document number {i}.")
    report = await run(memory_ingestor, tmp_path)
    assert report.count("ingested") == 24
    # batch size 8: 24 one-chunk documents take 3 full batches, not 24 calls
    assert report.embedding_calls <= 6


async def test_changed_document_replaces_its_chunks(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs")
    await run(memory_ingestor, root)
    doc = doc_id_for("doc1.txt")
    old = {
        c.id for c in memory_ingestor.store.iter_chunks("default") if c.metadata["doc_id"] == doc
    }
    (root / "doc1.txt").write_text("Completely new short text.")
    report = await run(memory_ingestor, root)
    assert report.count("ingested") == 1
    assert report.count("unchanged") == 5
    assert report.chunks_added == 1
    assert report.chunks_removed == len(old)
    now = [c for c in memory_ingestor.store.iter_chunks("default") if c.metadata["doc_id"] == doc]
    assert [c.text for c in now] == ["Completely new short text."]
    assert not old & {c.id for c in now}
    record = memory_ingestor.store.get_records("default", [doc])[doc]
    assert (record.state, record.chunk_count) == ("done", 1)


async def test_sync_removes_only_vanished_files_of_that_root(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("Another root's document.")
    await run(memory_ingestor, root)
    await run(memory_ingestor, other)
    (root / "doc2.txt").unlink()
    without_sync = await run(memory_ingestor, root)
    assert without_sync.count("removed") == 0
    report = await run(memory_ingestor, root, sync=True)
    assert [r.source for r in report.results if r.status == "removed"] == ["doc2.txt"]
    assert report.chunks_removed > 0
    sources = {d.source for d in memory_ingestor.store.list_documents("default")}
    assert sources == {"doc0.txt", "doc1.txt", "doc3.txt", "doc4.txt", "sub/notes.md", "keep.txt"}
    assert not [
        c
        for c in memory_ingestor.store.iter_chunks("default")
        if c.metadata["source"] == "doc2.txt"
    ]


async def test_failures_are_reported_and_the_rest_ingested(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs", n=2)
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    (root / "empty.txt").write_bytes(b"")
    (root / "archive.zip").write_bytes(b"PK\x03\x04")
    (root / "latin1.txt").write_bytes("café crème brûlée, déjà vu".encode("latin-1"))
    report = await run(memory_ingestor, root)
    failures = {r.source: r.reason for r in report.failures}
    assert failures == {"broken.pdf": "malformed", "empty.txt": "empty"}
    assert [(r.source, r.reason) for r in report.results if r.status == "skipped"] == [
        ("archive.zip", "unsupported_type")
    ]
    latin = next(r for r in report.results if r.source == "latin1.txt")
    assert latin.status == "ingested"
    assert any("not UTF-8" in note for note in latin.notes)
    texts = [
        c.text
        for c in memory_ingestor.store.iter_chunks("default")
        if c.metadata["source"] == "latin1.txt"
    ]
    assert texts == ["café crème brûlée, déjà vu"]
    data = report.to_json()
    assert data["files"] == {"ingested": 4, "unchanged": 0, "failed": 2, "removed": 0, "skipped": 1}
    assert {f["reason"] for f in data["failures"]} == {"malformed", "empty"}


async def test_a_file_that_turns_bad_keeps_its_old_chunks(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs", n=1)
    await run(memory_ingestor, root)
    count = memory_ingestor.store.get_collection("default").chunk_count
    (root / "doc0.txt").write_bytes(b"")
    report = await run(memory_ingestor, root)
    assert [r.reason for r in report.failures] == ["empty"]
    assert memory_ingestor.store.get_collection("default").chunk_count == count


async def test_too_large_is_refused_before_reading(memory_ingestor, tmp_path):
    memory_ingestor.settings.ingest.max_file_mb = 0.001
    (tmp_path / "big.txt").write_text("x " * 2000)
    report = await memory_ingestor.ingest(discover([tmp_path / "big.txt"]))
    assert [(r.reason, "MB limit" in r.message) for r in report.failures] == [("too_large", True)]


async def test_chunk_metadata_is_complete(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs", n=1)
    await run(memory_ingestor, root)
    chunks = [
        c
        for c in memory_ingestor.store.iter_chunks("default")
        if c.metadata["source"] == "doc0.txt"
    ]
    text = (root / "doc0.txt").read_text()
    assert len(chunks) > 2
    for chunk in chunks:
        meta = chunk.metadata
        assert set(meta) == {
            "source",
            "doc_id",
            "page",
            "chunk_index",
            "start",
            "end",
            "doc_hash",
            "embed_model",
            "tokens",
        }
        assert text[meta["start"] : meta["end"]] == chunk.text
        assert meta["tokens"] == count_tokens(chunk.text)
        assert meta["page"] == 0
        assert meta["embed_model"] == "fake-embed"
        assert chunk.id.endswith(f"-{meta['chunk_index']:05d}")


async def test_another_model_is_refused_and_reindex_rebuilds(tmp_path, test_settings):
    root = corpus(tmp_path / "docs", n=2)
    first = Ingestor(
        ChunkStore.ephemeral(),
        FakeEmbedder(model="model-a"),
        test_settings,
        reader=InProcessReader(),
    )
    await run(first, root)
    second = Ingestor(
        first.store,
        FakeEmbedder(model="model-b", dimension=48),
        test_settings,
        reader=InProcessReader(),
    )
    with pytest.raises(EmbeddingModelMismatch, match=r"'model-a'.*'model-b'"):
        await run(second, root)
    report = await run(second, root, reindex=True)
    assert report.count("ingested") == 3
    info = first.store.get_collection("default")
    assert (info.embed_model, info.dimension) == ("model-b", 48)


async def test_dry_run_writes_nothing(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs", n=3)
    report = await run(memory_ingestor, root, dry_run=True)
    assert report.to_json()["files"]["ingested"] == 4
    assert report.embedding_calls == 0
    assert memory_ingestor.store.list_collections() == []
    await run(memory_ingestor, root)
    (root / "doc0.txt").write_text("changed")
    (root / "doc1.txt").unlink()
    planned = await run(memory_ingestor, root, dry_run=True, sync=True)
    assert [r.source for r in planned.results if r.status == "planned"] == ["doc0.txt"]
    assert [r.source for r in planned.results if r.status == "removed"] == ["doc1.txt"]
    assert len(memory_ingestor.store.list_documents("default")) == 4


async def test_uploads_in_memory_and_on_disk(memory_ingestor, tmp_path):
    saved = tmp_path / "upload-123.tmp"
    saved.write_text("Saved upload text.")
    report = await ingest_uploads(
        memory_ingestor,
        [
            Upload("dir/../notes.txt", b"In-memory upload."),
            Upload("report.md", saved),
            Upload("x.exe", b"MZ"),
        ],
        collection="uploads",
    )
    assert {r.source: r.status for r in report.results} == {
        "notes.txt": "ingested",
        "report.md": "ingested",
        "x.exe": "failed",
    }
    assert report.failures[0].reason == "unsupported_type"
    again = await ingest_uploads(
        memory_ingestor, [Upload("notes.txt", b"In-memory upload.")], collection="uploads"
    )
    assert again.count("unchanged") == 1
    assert again.embedding_calls == 0


async def test_uploads_with_one_name_are_all_kept_under_numbered_names(memory_ingestor):
    report = await ingest_uploads(
        memory_ingestor,
        [Upload("a.txt", b"first"), Upload("b/a.txt", b"second"), Upload("c\\a.txt", b"third")],
    )
    assert sorted(r.source for r in report.results) == ["a-2.txt", "a-3.txt", "a.txt"]
    texts = {c.metadata["source"]: c.text for c in memory_ingestor.store.iter_chunks("default")}
    assert texts == {"a.txt": "first", "a-2.txt": "second", "a-3.txt": "third"}


def test_shards_partition_the_files(tmp_path):
    root = corpus(tmp_path / "docs", n=20)
    everything = {f.source for f in discover([root]).files}
    parts = [{f.source for f in discover([root], shard=Shard(i, 3)).files} for i in (1, 2, 3)]
    assert set().union(*parts) == everything
    assert sum(len(p) for p in parts) == len(everything)
    assert all(parts)
    with pytest.raises(InvalidRequest, match="1 <= I <= N"):
        Shard.parse("0/3")
    with pytest.raises(InvalidRequest, match="I/N"):
        Shard.parse("half")


def test_glob_and_hidden_files(tmp_path):
    root = corpus(tmp_path / "docs", n=2)
    (root / ".hidden.txt").write_text("secret")
    found = discover([root])
    assert ".hidden.txt" not in {f.source for f in found.files}
    only_md = discover([root], glob="**/*.md")
    assert [f.source for f in only_md.files] == ["sub/notes.md"]
    with pytest.raises(InvalidRequest, match="existing file or folder"):
        discover([tmp_path / "nope"])


async def test_reindex_with_shard_is_refused(tmp_path, fake_embedder):
    with pytest.raises(InvalidRequest, match="--reindex"):
        await ingest_paths(
            Ingestor(ChunkStore.ephemeral(), fake_embedder, Settings(), reader=InProcessReader()),
            [tmp_path],
            reindex=True,
            shard="1/2",
        )


async def test_pipeline_on_both_chroma_modes(
    store, collection_name, fake_embedder, test_settings, tmp_path
):
    root = corpus(tmp_path / "docs", n=3)
    ingestor = Ingestor(store, fake_embedder, test_settings, reader=InProcessReader())
    first = await ingestor.ingest(discover([root]), collection=collection_name)
    assert first.count("ingested") == 4
    second = await ingestor.ingest(discover([root]), collection=collection_name)
    assert (second.count("unchanged"), second.embedding_calls) == (4, 0)
    (root / "doc0.txt").write_text("new")
    third = await ingestor.ingest(discover([root]), collection=collection_name, sync=True)
    assert third.count("ingested") == 1
    info = store.get_collection(collection_name)
    assert info.document_count == 4
    assert info.chunk_count == len(list(store.iter_chunks(collection_name)))


class CallSizes(WritePacing):
    """An interactive pacing that remembers the size of each chunk call of the writes."""

    def __init__(self) -> None:
        super().__init__(largest=128, target_seconds=0.05, smallest=1, first=3)
        self.calls: list[int] = []

    def observed(self, rows: int, seconds: float) -> None:
        self.calls.append(rows)
        super().observed(rows, seconds)


async def test_writes_are_paced_unless_the_run_is_bulk(memory_ingestor, tmp_path):
    root = corpus(tmp_path / "docs", n=4)
    assert memory_ingestor.pacing.target_seconds == INTERACTIVE_TARGET_SECONDS
    memory_ingestor.pacing = paced = CallSizes()
    report = await ingest_paths(memory_ingestor, [root], collection="paced")
    assert report.chunks_added > 3
    assert paced.calls[0] == 3  # the first call, before anything was measured
    assert sum(paced.calls) == report.chunks_added
    # a bulk run (docent ingest) writes whole waves: the ingestor's pacing is not used
    bulk = await ingest_paths(memory_ingestor, [root], collection="bulk", bulk=True)
    assert bulk.chunks_added == report.chunks_added
    assert sum(paced.calls) == report.chunks_added
