"""The record cache: large record lookups served from disk only at the revision they were read.

Each test reads through a second :class:`ChunkStore` on the same folder, as the next
process would, after the first one closed (which saves the cache).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from retrieval import record_cache
from retrieval.record_cache import RecordCache
from retrieval.records import record_from
from retrieval.settings import ChromaSettings
from retrieval.store import (
    RECORD_CACHE_DIR,
    RECORD_CACHE_FROM,
    ChunkStore,
    DocumentRecord,
    DocumentWrite,
    doc_id_for,
)
from retrieval.write_pacing import WritePacing
from tests.fakes import hash_vector
from tests.retrieval.test_store import DIM, make_chunks

NAME = "cached"
DOCS = RECORD_CACHE_FROM + 20


class CountingDocs:
    """The records collection, counting the record ids read from Chroma."""

    def __init__(self, docs: Any, reads: list[str]) -> None:
        self._docs = docs
        self._reads = reads
        self.id = docs.id

    def get(self, **kwargs: Any) -> Any:
        self._reads.extend(i for i in kwargs.get("ids") or [] if not i.startswith("~"))
        return self._docs.get(**kwargs)


def open_store(folder: Path, reads: list[str] | None = None) -> ChunkStore:
    store = ChunkStore.from_settings(ChromaSettings(path=str(folder)))
    if reads is not None:
        docs = store._docs

        def counted(name: str, *, create: bool = False) -> Any:
            found = docs(name, create=create)
            return None if found is None else CountingDocs(found, reads)

        store._docs = counted  # type: ignore[method-assign]
    return store


def document(source: str, version: str = "v1") -> DocumentWrite:
    chunks = make_chunks(source, [f"{source} text {version}"], version)
    record = DocumentRecord(
        doc_id=doc_id_for(source),
        source=source,
        content_hash="h" + version,
        chunk_count=len(chunks),
        ingested_at="2026-01-01T00:00:00+00:00",
        version=version,
        state="pending",
        root="/data",
    )
    vectors = {c.id: hash_vector(c.text, DIM) for c in chunks}
    return DocumentWrite(record=record, chunks=chunks, vectors=vectors)


def sources() -> list[str]:
    return [f"doc-{i:03d}.txt" for i in range(DOCS)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An embedded store holding DOCS documents, whose records were looked up once."""
    store = open_store(tmp_path)
    store.ensure_collection(NAME, "fake", DIM)
    store.write_documents(NAME, [document(s) for s in sources()], embed_model="fake")
    store.get_records(NAME, [doc_id_for(s) for s in sources()])
    store.close()
    return tmp_path


def lookup(folder: Path) -> tuple[dict[str, DocumentRecord], list[str]]:
    """The records of all documents read by a new store, and the ids it read from Chroma."""
    reads: list[str] = []
    store = open_store(folder, reads)
    try:
        return store.get_records(NAME, [doc_id_for(s) for s in sources()]), reads
    finally:
        store.close()


def test_records_are_served_from_disk_while_the_revision_holds(folder: Path) -> None:
    records, reads = lookup(folder)

    assert reads == []
    assert sorted(r.source for r in records.values()) == sources()
    assert {r.version for r in records.values()} == {"v1"}
    assert {r.state for r in records.values()} == {"done"}
    assert (folder / RECORD_CACHE_DIR / f"{NAME}.json").is_file()


def test_small_lookups_go_to_chroma(folder: Path) -> None:
    reads: list[str] = []
    store = open_store(folder, reads)
    try:
        one = doc_id_for(sources()[0])
        assert store.get_records(NAME, [one])[one].version == "v1"
    finally:
        store.close()
    assert reads == [doc_id_for(sources()[0])]


def test_a_rewritten_document_is_read_again(folder: Path) -> None:
    store = open_store(folder)
    store.write_documents(NAME, [document(sources()[5], "v2")], embed_model="fake")
    store.close()

    records, reads = lookup(folder)

    assert records[doc_id_for(sources()[5])].version == "v2"
    assert len(reads) == DOCS  # a new revision: nothing served from the old one
    records, reads = lookup(folder)
    assert (records[doc_id_for(sources()[5])].version, reads) == ("v2", [])


def test_records_read_before_a_write_of_the_same_store_are_not_saved(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.ensure_collection(NAME, "fake", DIM)
    store.write_documents(NAME, [document(s) for s in sources()], embed_model="fake")
    store.get_records(NAME, [doc_id_for(s) for s in sources()])  # read at this revision
    store.write_documents(NAME, [document(sources()[0], "v2")], embed_model="fake")
    store.close()

    assert not (tmp_path / RECORD_CACHE_DIR / f"{NAME}.json").exists()
    records, reads = lookup(tmp_path)
    assert records[doc_id_for(sources()[0])].version == "v2"
    assert len(reads) == DOCS


@pytest.mark.parametrize("how", ["delete_document", "delete_records"])
def test_a_deleted_document_is_gone(folder: Path, how: str) -> None:
    gone = doc_id_for(sources()[7])
    store = open_store(folder)
    getattr(store, how)(NAME, gone if how == "delete_document" else [gone])
    store.close()

    records, reads = lookup(folder)

    assert gone not in records
    assert len(records) == DOCS - 1
    assert len(reads) == DOCS


def test_a_repaired_record_is_read_again(folder: Path) -> None:
    doc_id = doc_id_for(sources()[3])
    store = open_store(folder)
    store.put_records(NAME, [replace(store.get_records(NAME, [doc_id])[doc_id], chunk_count=9)])
    store.close()

    records, reads = lookup(folder)

    assert records[doc_id].chunk_count == 9
    assert len(reads) == DOCS


def test_pending_records_are_never_served_from_the_cache(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.ensure_collection(NAME, "fake", DIM)
    pending = [replace(document(s).record, state="pending") for s in sources()]
    store.put_records(NAME, pending)
    assert {r.state for r in store.get_records(NAME, [r.doc_id for r in pending]).values()} == {
        "pending"
    }
    # the one record write that keeps the revision: ``pending`` set ``done`` under its lock
    store._mark_done(NAME, [r.doc_id for r in pending], bump=False, pacing=WritePacing.bulk())
    store.close()

    records, reads = lookup(tmp_path)

    assert {r.state for r in records.values()} == {"done"}
    assert len(reads) == DOCS


def test_an_unreadable_cache_file_is_not_used(folder: Path) -> None:
    (folder / RECORD_CACHE_DIR / f"{NAME}.json").write_text("{not json", encoding="utf-8")

    records, reads = lookup(folder)

    assert sorted(r.source for r in records.values()) == sources()
    assert len(reads) == DOCS


def test_a_file_is_parsed_once_per_process_while_it_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docent ingest's fast path, then the pipeline's store, read the same file
    parsed: list[str] = []

    def counted(doc_id: str, meta: Any) -> DocumentRecord:
        parsed.append(doc_id)
        return record_from(doc_id, meta)

    monkeypatch.setattr(record_cache, "record_from", counted)
    folder = tmp_path / RECORD_CACHE_DIR
    ids = [f"{n:016x}" for n in range(30)]
    records = {i: DocumentRecord(i, f"{i}.txt", "h", 1, "t", "v1") for i in ids}
    writer = RecordCache(folder)
    writer.remember(NAME, "k1", records)
    writer.save()

    first = RecordCache(folder)
    assert first.lookup(NAME, "k1", ids) == (records, [])
    assert len(parsed) == 30
    first.remember(NAME, "k1", {ids[0]: replace(records[ids[0]], version="v2")})  # not saved
    assert RecordCache(folder).lookup(NAME, "k1", ids) == (records, [])  # as on disk
    assert RecordCache(folder).lookup(NAME, "k2", ids) == ({}, ids)  # another revision
    assert len(parsed) == 30  # parsed once

    rewriter = RecordCache(folder)
    rewriter.remember(NAME, "k3", {ids[1]: replace(records[ids[1]], version="v3")})
    rewriter.save()  # a new file (another inode): parsed again
    assert RecordCache(folder).lookup(NAME, "k3", ids[1:2])[0][ids[1]].version == "v3"
    assert len(parsed) == 31
