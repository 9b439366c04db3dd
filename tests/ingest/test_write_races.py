"""Regression tests of the write path under overlapping writes (issue 10, items 1, 2, 4).

In-process overlaps (``asyncio.gather`` on one ingestor, as several uploads in one server)
with the fake embedder and real in-memory Chroma; the process-level runs are in
``test_concurrent_writers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.sources import discover
from ingest.uploads import Upload, ingest_uploads
from retrieval.errors import DocumentNotFound, OllamaFailed
from retrieval.store import (
    REBUILD_SUFFIX,
    ChunkStore,
    DocumentRecord,
    DocumentWrite,
    chunk_ids,
    doc_id_for,
)
from retrieval.types import Chunk
from tests.fakes import FakeEmbedder

DOC = doc_id_for("notes.txt")


def chunks_by_doc(store: ChunkStore, name: str = "default") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for chunk in store.iter_chunks(name):
        found.setdefault(str(chunk.metadata["doc_id"]), []).append(chunk.text)
    return found


def assert_consistent(store: ChunkStore, name: str = "default") -> None:
    """Every record is done and lists exactly the document's stored chunks; no orphans."""
    owners = store.chunk_owners(name)
    records = {r.doc_id: r for r in store.list_documents(name)}
    for record in records.values():
        assert record.state == "done"
        expected = set(chunk_ids(record.doc_id, record.version, record.chunk_count))
        assert {i for i, d in owners.items() if d == record.doc_id} == expected
    assert set(owners.values()) <= set(records)


async def test_concurrent_uploads_of_one_name_leave_one_version(memory_ingestor):
    # item 1: eight uploads of notes.txt at once used to leave all eight versions searchable
    texts = [f"Version {i} of the notes says {i * 11}." for i in range(8)]
    await asyncio.gather(
        *(ingest_uploads(memory_ingestor, [Upload("notes.txt", t.encode())]) for t in texts)
    )
    store = memory_ingestor.store
    stored = chunks_by_doc(store)
    assert list(stored) == [DOC]
    assert len(stored[DOC]) == 1
    assert stored[DOC][0] in texts
    record = store.get_records("default", [DOC])[DOC]
    assert record.state == "done"
    assert_consistent(store)


async def test_unchanged_never_trusts_a_record_whose_chunks_are_gone(memory_ingestor):
    # item 2: the record said done while Chroma held none; re-uploading said "unchanged"
    upload = [Upload("notes.txt", b"Opening hours are nine to five.")]
    await ingest_uploads(memory_ingestor, upload)
    store = memory_ingestor.store
    store.delete_chunks("default", store.chunk_ids_of("default", DOC))  # lost behind its back
    again = await ingest_uploads(memory_ingestor, upload)
    assert [(r.source, r.status) for r in again.results] == [("notes.txt", "ingested")]
    assert chunks_by_doc(store) == {DOC: ["Opening hours are nine to five."]}
    assert_consistent(store)


def test_a_write_expecting_deleted_chunks_writes_nothing_and_says_so():
    # item 2: a delete between the presence check and the write must not leave `done`
    store = ChunkStore.ephemeral()
    store.ensure_collection("default", "fake", 2)
    chunk = Chunk(id=f"{DOC}-v1-00000", text="kept?", metadata={"doc_id": DOC})
    record = DocumentRecord(DOC, "notes.txt", "h", 1, "t", version="v1", state="pending")
    outcome = store.write_documents(
        "default", [DocumentWrite(record, [chunk], vectors={})], embed_model="fake"
    )
    assert outcome.vanished == {DOC: [chunk.id]}
    assert outcome.written == []
    assert store.list_documents("default") == []
    assert list(store.iter_chunks("default")) == []


@pytest.mark.parametrize("seed", range(6))
async def test_deletes_racing_uploads_end_consistent(memory_ingestor, seed):
    # item 2: any interleaving of uploads and deletes of one document ends with no record
    # and no chunks, or a done record with exactly its chunks
    store = memory_ingestor.store
    await ingest_uploads(memory_ingestor, [Upload("notes.txt", b"first version")])

    async def delete() -> None:
        await asyncio.sleep(0.001 * (seed % 3))
        with contextlib.suppress(DocumentNotFound):  # the other delete came first
            await asyncio.to_thread(store.delete_document, "default", DOC)

    texts = [f"version {seed}-{i}" for i in range(3)]
    uploads = [ingest_uploads(memory_ingestor, [Upload("notes.txt", t.encode())]) for t in texts]
    await asyncio.gather(delete(), *uploads, delete())
    assert_consistent(store)
    stored = chunks_by_doc(store).get(DOC, [])
    assert stored == [] or stored[0] in texts


class BrokenEmbedder(FakeEmbedder):
    """A chat model set as the embedding model by mistake: every embed call fails."""

    async def embed_documents(self, texts):
        self.calls += 1
        raise OllamaFailed('Ollama answered 400: "smollm2" does not support embeddings')

    async def embed_query(self, text):
        self.calls += 1
        raise OllamaFailed('Ollama answered 400: "smollm2" does not support embeddings')


def write_corpus(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i}.txt").write_text(f"Document {i} is about topic {i}.")
    return root


async def test_a_reindex_with_a_model_that_cannot_embed_keeps_the_collection(
    tmp_path, test_settings
):
    # item 4: a failed --reindex wiped the collection and stamped it with the new model
    root = write_corpus(tmp_path / "docs")
    store = ChunkStore.ephemeral()
    good = Ingestor(store, FakeEmbedder(model="model-a"), test_settings, reader=InProcessReader())
    await good.ingest(discover([root]))
    before = sorted((c.id, c.text) for c in store.iter_chunks("default"))
    broken_embedder = BrokenEmbedder(model="smollm2")
    broken = Ingestor(store, broken_embedder, test_settings, reader=InProcessReader())
    with pytest.raises(OllamaFailed, match="does not support embeddings"):
        await broken.ingest(discover([root]), reindex=True)
    assert broken_embedder.calls == 1  # one probe, not one call per file
    info = store.get_collection("default")
    assert (info.embed_model, info.document_count) == ("model-a", 3)
    assert sorted((c.id, c.text) for c in store.iter_chunks("default")) == before
    assert [c.name for c in store.list_collections()] == ["default"]


class PickyEmbedder(FakeEmbedder):
    """Refuses documents holding POISON (so a rebuild fails part-way)."""

    async def embed_documents(self, texts):
        if any("POISON" in t for t in texts):
            self.calls += 1
            raise OllamaFailed("Ollama answered 500: llama runner crashed")
        return await super().embed_documents(texts)


async def test_a_reindex_that_fails_part_way_keeps_the_old_index(tmp_path, test_settings):
    root = write_corpus(tmp_path / "docs")
    store = ChunkStore.ephemeral()
    old = Ingestor(store, FakeEmbedder(model="model-a"), test_settings, reader=InProcessReader())
    await old.ingest(discover([root]))
    before = sorted((c.id, c.text) for c in store.iter_chunks("default"))
    (root / "doc1.txt").write_text("POISON")
    picky = PickyEmbedder(model="model-b", dimension=48)
    new = Ingestor(store, picky, test_settings, reader=InProcessReader())
    report = await new.ingest(discover([root]), reindex=True)
    assert report.reindex == "kept_old"
    assert [r.source for r in report.failures] == ["doc1.txt"]
    assert store.get_collection("default").embed_model == "model-a"
    assert sorted((c.id, c.text) for c in store.iter_chunks("default")) == before
    (root / "doc1.txt").write_text("Fixed now.")
    report = await new.ingest(discover([root]), reindex=True)
    assert report.reindex == "switched"
    info = store.get_collection("default")
    assert (info.embed_model, info.dimension, info.document_count) == ("model-b", 48, 3)
    assert "Fixed now." in {c.text for c in store.iter_chunks("default")}
    assert_consistent(store)


async def test_the_old_index_serves_while_a_rebuild_runs(tmp_path, test_settings):
    root = write_corpus(tmp_path / "docs")
    store = ChunkStore.ephemeral()
    ingestor = Ingestor(store, FakeEmbedder(model="a"), test_settings, reader=InProcessReader())
    await ingestor.ingest(discover([root]))
    rebuild = store.begin_rebuild("default", "b", 8)
    try:
        assert rebuild.staging == "default" + REBUILD_SUFFIX
        assert [c.name for c in store.list_collections()] == ["default"]
        assert store.get_collection("default").document_count == 3
        assert len(store.query("default", [0.1] * 32, 3)) == 3
    finally:
        rebuild.abandon()
    assert store.get_collection("default").embed_model == "a"


async def test_a_verified_collection_skips_the_chunk_lookups_until_a_write(memory_ingestor):
    # the unchanged re-ingest trusts the records only at the revision a run saw complete
    upload = [Upload("notes.txt", b"Opening hours are nine to five.")]
    store = memory_ingestor.store
    await ingest_uploads(memory_ingestor, upload)
    assert not store.verification("default")[1]
    again = await ingest_uploads(memory_ingestor, upload)  # checks the chunks, leaves the mark
    assert [r.status for r in again.results] == ["unchanged"]
    assert store.verification("default")[1]
    lookups: list[int] = []
    real = store.existing_ids

    def counted(name: str, ids: list[str]) -> set[str]:
        lookups.append(len(ids))
        return real(name, ids)

    store.existing_ids = counted  # type: ignore[method-assign]
    third = await ingest_uploads(memory_ingestor, upload)
    assert [r.status for r in third.results] == ["unchanged"]
    assert lookups == []
    store.delete_chunks("default", store.chunk_ids_of("default", DOC))  # a new revision
    assert not store.verification("default")[1]
    fourth = await ingest_uploads(memory_ingestor, upload)
    assert [r.status for r in fourth.results] == ["ingested"]
    assert lookups  # the stale mark was not trusted
    assert chunks_by_doc(store) == {DOC: ["Opening hours are nine to five."]}
    assert_consistent(store)


async def test_no_mark_when_a_record_lacks_chunks_or_the_run_saw_only_some(memory_ingestor):
    store = memory_ingestor.store
    notes = Upload("notes.txt", b"Opening hours are nine to five.")
    other = Upload("other.txt", b"The library closes on Sundays.")
    await ingest_uploads(memory_ingestor, [notes, other])
    partial = await ingest_uploads(memory_ingestor, [notes])  # one record of two looked up
    assert [r.status for r in partial.results] == ["unchanged"]
    assert not store.verification("default")[1]
    # a chunk lost behind the store's back (no new revision): the lookup finds it missing
    store._chunks("default").delete(ids=store.chunk_ids_of("default", DOC))
    both = await ingest_uploads(memory_ingestor, [notes, other])
    assert sorted((r.source, r.status) for r in both.results) == [
        ("notes.txt", "ingested"),
        ("other.txt", "unchanged"),
    ]
    assert not store.verification("default")[1]
    assert_consistent(store)


def test_repaired_records_change_the_revision():
    # ``docent check --repair`` rewrites records: a mark made before must not hold after
    store = ChunkStore.ephemeral()
    store.ensure_collection("default", "fake", 2)
    chunk = Chunk(id=f"{DOC}-v1-00000", text="kept", metadata={"doc_id": DOC})
    record = DocumentRecord(DOC, "notes.txt", "h", 1, "t", version="v1", state="pending")
    store.write_documents(
        "default",
        [DocumentWrite(record, [chunk], vectors={chunk.id: [1.0, 0.0]})],
        embed_model="fake",
    )
    token, verified = store.verification("default")
    assert not verified
    store.mark_verified("default", token)
    assert store.verification("default") == (token, True)
    assert store.record_count("default") == 1
    assert store.get_collection("default").document_count == 1
    assert [r.doc_id for r in store.list_documents("default")] == [DOC]
    store.put_records("default", [record])
    assert not store.verification("default")[1]
