"""The ChunkStore contract, run against embedded and server-mode Chroma alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrieval.errors import (
    ChromaUnavailable,
    CollectionNotFound,
    DocumentNotFound,
    EmbeddingModelMismatch,
    InvalidRequest,
)
from retrieval.settings import ChromaSettings
from retrieval.store import (
    ChunkStore,
    DocumentRecord,
    DocumentWrite,
    chunk_id,
    chunk_ids,
    chunk_metadata,
    doc_id_for,
)
from retrieval.types import Chunk
from retrieval.write_pacing import WritePacing
from tests.fakes import hash_vector

DIM = 16


def make_chunks(source: str, texts: list[str], version: str = "v1") -> list[Chunk]:
    doc_id = doc_id_for(source)
    return [
        Chunk(
            id=chunk_id(doc_id, version, i),
            text=text,
            metadata=chunk_metadata(
                source=source,
                doc_id=doc_id,
                page=0,
                chunk_index=i,
                start=0,
                end=len(text),
                doc_hash="h" + version,
                embed_model="fake",
            ),
        )
        for i, text in enumerate(texts)
    ]


def record(source: str, count: int, version: str = "v1", state="done") -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id_for(source),
        source=source,
        content_hash="h" + version,
        chunk_count=count,
        ingested_at="2026-01-01T00:00:00+00:00",
        version=version,
        state=state,
        root="/data",
    )


def write(store: ChunkStore, name: str, source: str, texts: list[str], version="v1") -> None:
    chunks = make_chunks(source, texts, version)
    store.put_records(name, [record(source, len(texts), version)])
    store.upsert_chunks(name, chunks, [hash_vector(c.text, DIM) for c in chunks], batch_size=2)


def test_ensure_collection_records_model_and_refuses_another(store, collection_name):
    info = store.ensure_collection(collection_name, "all-minilm", DIM)
    assert (info.embed_model, info.dimension, info.chunk_count) == ("all-minilm", DIM, 0)
    assert store.ensure_collection(collection_name, "all-minilm", DIM) == info
    with pytest.raises(EmbeddingModelMismatch) as caught:
        store.ensure_collection(collection_name, "nomic-embed-text", 768)
    assert "'all-minilm'" in caught.value.message
    assert "'nomic-embed-text'" in caught.value.message
    assert "--reindex" in caught.value.message
    with pytest.raises(EmbeddingModelMismatch):
        store.check_embed_model(collection_name, "nomic-embed-text")
    assert store.check_embed_model(collection_name, "all-minilm").name == collection_name
    with pytest.raises(InvalidRequest, match="dimensional"):
        store.ensure_collection(collection_name, "all-minilm", DIM + 1)


@pytest.mark.parametrize("bad", ["", "ab", "-abc", "a b c", "x" * 65, "abc--docs", "a..b"])
def test_bad_collection_names_are_refused(store, bad):
    with pytest.raises(InvalidRequest, match="Expected a collection name"):
        store.ensure_collection(bad, "m", DIM)


def test_missing_collection(store, collection_name):
    for call in (
        lambda: store.get_collection(collection_name),
        lambda: store.delete_collection(collection_name),
        lambda: store.list_documents(collection_name),
        lambda: store.revision(collection_name),
        lambda: store.query(collection_name, [1.0] * DIM, 3),
    ):
        with pytest.raises(CollectionNotFound, match="docent ingest"):
            call()


def test_bookkeeping_collection_is_hidden_and_counts_are_right(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    write(store, collection_name, "a.txt", ["alpha one", "alpha two", "alpha three"])
    write(store, collection_name, "b.txt", ["beta"])
    names = [c.name for c in store.list_collections()]
    assert collection_name in names
    assert not [n for n in names if n.endswith("--docs")]
    info = store.get_collection(collection_name)
    assert (info.chunk_count, info.document_count) == (4, 2)


def test_query_scores_are_cosine_similarity(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    write(store, collection_name, "a.txt", ["cats purr", "dogs bark", "fish swim"])
    query = hash_vector("cats purr", DIM)
    hits = store.query(collection_name, query, 2)
    assert next(h.text for h in hits) == "cats purr"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    expected = sum(a * b for a, b in zip(query, hash_vector(hits[1].text, DIM), strict=True))
    assert hits[1].score == pytest.approx(expected, abs=1e-4)
    assert hits[0].source == "a.txt"
    assert hits[0].metadata["chunk_index"] == 0
    filtered = store.query(collection_name, query, 5, where={"chunk_index": 2})
    assert [h.text for h in filtered] == ["fish swim"]
    assert len(store.query(collection_name, query, 50)) == 3


def test_get_and_iter_chunks(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    write(store, collection_name, "a.txt", [f"text {i}" for i in range(7)])
    ids = chunk_ids(doc_id_for("a.txt"), "v1", 7)
    got = store.get_chunks(collection_name, [ids[3], "nope", ids[1]])
    assert [c.text for c in got] == ["text 3", "text 1"]
    assert store.get_chunks(collection_name, []) == []
    every = list(store.iter_chunks(collection_name, batch_size=3))
    assert sorted(c.id for c in every) == sorted(ids)
    assert all(c.metadata["source"] == "a.txt" for c in every)


def test_revision_changes_on_every_write(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    seen = {store.revision(collection_name)}
    write(store, collection_name, "a.txt", ["one", "two"])
    seen.add(store.revision(collection_name))
    assert store.revision(collection_name) in seen  # stable between writes
    store.delete_chunks(collection_name, [chunk_id(doc_id_for("a.txt"), "v1", 1)])
    seen.add(store.revision(collection_name))
    store.delete_document(collection_name, doc_id_for("a.txt"))
    seen.add(store.revision(collection_name))
    assert len(seen) == 4
    store.delete_collection(collection_name)
    store.ensure_collection(collection_name, "fake", DIM)
    assert store.revision(collection_name) not in seen


def test_documents_records_and_deletion(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    write(store, collection_name, "b.txt", ["b1", "b2"])
    write(store, collection_name, "a.txt", ["a1"])
    docs = store.list_documents(collection_name)
    assert [d.source for d in docs] == ["a.txt", "b.txt"]
    assert docs[1] == record("b.txt", 2)
    assert store.get_records(collection_name, [doc_id_for("b.txt"), "zz"]) == {
        doc_id_for("b.txt"): record("b.txt", 2)
    }
    assert store.delete_document(collection_name, doc_id_for("b.txt")) == 2
    assert [d.source for d in store.list_documents(collection_name)] == ["a.txt"]
    assert store.get_collection(collection_name).chunk_count == 1
    with pytest.raises(DocumentNotFound, match=r"not in collection"):
        store.delete_document(collection_name, doc_id_for("b.txt"))


def test_pending_record_round_trips_and_chunk_lookup_by_doc(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    write(store, collection_name, "a.txt", ["a1", "a2"])
    write(store, collection_name, "a.txt", ["new"], version="v2")
    pending = replace(record("a.txt", 1, "v2"), state="pending")
    store.put_records(collection_name, [pending])
    assert store.get_records(collection_name, [pending.doc_id])[pending.doc_id].state == "pending"
    ids = sorted(store.chunk_ids_of(collection_name, pending.doc_id))
    assert ids == sorted([*chunk_ids(pending.doc_id, "v1", 2), chunk_id(pending.doc_id, "v2", 0)])
    assert store.existing_ids(collection_name, [*ids, "zz"]) == set(ids)


def test_upsert_is_idempotent(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    for _ in range(2):
        write(store, collection_name, "a.txt", ["same", "text"])
    assert store.get_collection(collection_name).chunk_count == 2


def test_upsert_needs_one_vector_per_chunk(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    with pytest.raises(InvalidRequest, match="one embedding per chunk"):
        store.upsert_chunks(collection_name, make_chunks("a", ["x", "y"]), [[1.0] * DIM])


def test_delete_collection_removes_bookkeeping(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    write(store, collection_name, "a.txt", ["x"])
    store.delete_collection(collection_name)
    store.ensure_collection(collection_name, "other", DIM)
    info = store.get_collection(collection_name)
    assert (info.embed_model, info.chunk_count, info.document_count) == ("other", 0, 0)


def test_ephemeral_stores_are_isolated():
    first, second = ChunkStore.ephemeral(), ChunkStore.ephemeral()
    first.ensure_collection("shared-name", "fake", DIM)
    assert [c.name for c in second.list_collections()] == []


def test_unreachable_server_says_how_to_fix():
    with pytest.raises(ChromaUnavailable) as caught:
        ChunkStore.from_settings(ChromaSettings(host="127.0.0.1", port=1))
    assert "127.0.0.1:1" in caught.value.message
    assert "chroma run" in caught.value.message
    assert "DOCENT_CHROMA_HOST" in caught.value.message


def test_unwritable_path_says_how_to_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ChromaUnavailable, match="DOCENT_CHROMA_PATH"):
        ChunkStore.from_settings(ChromaSettings(path=blocker / "chroma"))


def test_ids_are_deterministic():
    assert doc_id_for("a/b.txt") == doc_id_for("a/b.txt") != doc_id_for("a/c.txt")
    assert chunk_id("d", "v", 7) == "d-v-00007"
    assert chunk_ids("d", "v", 2) == ["d-v-00000", "d-v-00001"]


class RecordingPacing(WritePacing):
    """A pacing that remembers the size of every chunk call it was told about."""

    def __init__(self, rows: int) -> None:
        super().__init__(largest=rows, smallest=1)
        self.calls: list[int] = []

    def observed(self, rows: int, seconds: float) -> None:
        self.calls.append(rows)
        super().observed(rows, seconds)


def document_write(source: str, texts: list[str], version: str = "v1") -> DocumentWrite:
    chunks = make_chunks(source, texts, version)
    vectors = {c.id: hash_vector(c.text, DIM) for c in chunks}
    return DocumentWrite(
        replace(record(source, len(texts), version), state="pending"), chunks, vectors
    )


def test_write_documents_sizes_its_chunk_calls_by_the_pacing(store, collection_name):
    store.ensure_collection(collection_name, "fake", DIM)
    pacing = RecordingPacing(rows=2)
    docs = [document_write("a.txt", ["a1", "a2", "a3"]), document_write("b.txt", ["b1", "b2"])]
    outcome = store.write_documents(collection_name, docs, embed_model="fake", pacing=pacing)
    assert pacing.calls == [2, 2, 1]
    assert outcome.chunks_added == 5
    assert sorted(c.text for c in store.iter_chunks(collection_name)) == [
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
    ]
    assert {r.state for r in store.list_documents(collection_name)} == {"done"}


def test_write_documents_adds_only_chunks_not_stored(store, collection_name):
    # an interrupted run stored part of a document: its next write adds only the rest
    store.ensure_collection(collection_name, "fake", DIM)
    doc = document_write("a.txt", ["a1", "a2", "a3"])
    first = doc.chunks[0]
    store.upsert_chunks(collection_name, [first], [doc.vectors[first.id]])
    pacing = RecordingPacing(rows=10)
    outcome = store.write_documents(collection_name, [doc], embed_model="fake", pacing=pacing)
    assert outcome.chunks_added == 2
    assert pacing.calls == [2]
    assert sorted(store.existing_ids(collection_name, [c.id for c in doc.chunks])) == sorted(
        c.id for c in doc.chunks
    )
    # and a new version replaces them all: the new chunks added, the old ones deleted
    again = document_write("a.txt", ["x1", "x2"], version="v2")
    outcome = store.write_documents(collection_name, [again], embed_model="fake")
    assert (outcome.chunks_added, outcome.chunks_removed) == (2, 3)
    assert sorted(c.text for c in store.iter_chunks(collection_name)) == ["x1", "x2"]
    assert (
        store.get_records(collection_name, [again.record.doc_id])[again.record.doc_id].state
        == "done"
    )
