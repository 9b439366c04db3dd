"""docent check: each kind of disagreement is found, repaired from the chunks, then clean."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import tantivy

from retrieval.check import check_collection
from retrieval.lexical import LexicalIndexes, track_changes
from retrieval.lexical.segments import read_segments
from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore, DocumentRecord, DocumentWrite, chunk_ids
from retrieval.types import Chunk

REPO = Path(__file__).resolve().parents[2]


class SetIndex:
    """A derived index that only keeps ids: enough to verify and rebuild."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}

    def changing(self, collection: str) -> None:
        return None

    def chunks_written(self, collection: str, chunks: Sequence[Chunk]) -> None:
        self.ids.setdefault(collection, set()).update(c.id for c in chunks)

    def chunks_deleted(self, collection: str, ids: Sequence[str]) -> None:
        self.ids.setdefault(collection, set()).difference_update(ids)

    def collection_dropped(self, collection: str) -> None:
        self.ids.pop(collection, None)

    def indexed_ids(self, collection: str) -> set[str]:
        return set(self.ids.get(collection, set()))

    def rebuild(self, collection: str, chunks: Iterable[Chunk]) -> None:
        self.ids[collection] = {c.id for c in chunks}

    def deleted_on_disk(self, collection: str) -> int:
        return 0  # nothing on disk

    def erase_deleted(self, collection: str) -> bool:
        return True


def document(doc_id: str, version: str, n: int) -> DocumentWrite:
    """A document of ``n`` chunks, as the ingest pipeline hands it to the store."""
    ids = chunk_ids(doc_id, version, n)
    chunks = [
        Chunk(id=i, text=f"{doc_id} {k}", metadata={"doc_id": doc_id, "source": f"{doc_id}.txt"})
        for k, i in enumerate(ids)
    ]
    record = DocumentRecord(doc_id, f"{doc_id}.txt", "hash", n, "t", version, "pending")
    vectors = {i: [1.0, float(k)] for k, i in enumerate(ids)}
    return DocumentWrite(record, chunks, vectors)


def doc(store: ChunkStore, name: str, doc_id: str, version: str, n: int) -> DocumentRecord:
    """Write a document of ``n`` chunks through the store's protocol."""
    written = document(doc_id, version, n)
    store.write_documents(name, [written], embed_model="m")
    return replace(written.record, state="done")


def own(store: ChunkStore) -> ChunkStore:
    """The same Chroma with no subscribers (the server-mode store is shared by the session)."""
    return ChunkStore(store._client, store.where, store.persist_dir, store.locks.folder)


def damaged_store(name: str, store: ChunkStore) -> tuple[ChunkStore, SetIndex]:
    store = own(store)
    index = SetIndex()
    store.subscribe(index)
    store.ensure_collection(name, "m", 2)
    a = doc(store, name, "aaaaaaaaaaaaaaaa", "v1", 3)
    doc(store, name, "bbbbbbbbbbbbbbbb", "v1", 2)
    c = doc(store, name, "cccccccccccccccc", "v1", 2)
    doc(store, name, "dddddddddddddddd", "v1", 1)
    # a: a done record whose chunk is gone (raw delete behind the store's back)
    store._chunks(name).delete(ids=[chunk_ids(a.doc_id, "v1", 3)[2]])
    # b: an interrupted write (pending, chunks all there)
    store.put_records(
        name,
        [
            replace(
                store.get_records(name, ["bbbbbbbbbbbbbbbb"])["bbbbbbbbbbbbbbbb"], state="pending"
            )
        ],
    )
    # c: a stale chunk of an older version left behind
    stale = Chunk(id=chunk_ids(c.doc_id, "v0", 1)[0], text="old", metadata={"doc_id": c.doc_id})
    store._chunks(name).upsert(
        ids=[stale.id], documents=["old"], metadatas=[stale.metadata], embeddings=[[0.0, 1.0]]
    )
    # d: its record is gone, its chunk is not (orphan)
    store.delete_records(name, ["dddddddddddddddd"])
    # the derived index misses one chunk
    index.ids[name].discard(chunk_ids("bbbbbbbbbbbbbbbb", "v1", 2)[0])
    return store, index


def test_check_reports_each_disagreement_then_repairs(store, collection_name):
    store, index = damaged_store(collection_name, store)
    report = check_collection(store, collection_name)
    found = sorted((p.kind, p.subject) for p in report.problems)
    assert found == [
        ("index_out_of_date", "SetIndex"),
        ("missing_chunks", "aaaaaaaaaaaaaaaa"),
        ("orphan_chunks", "dddddddddddddddd"),
        ("pending", "bbbbbbbbbbbbbbbb"),
        ("stale_chunks", "cccccccccccccccc"),
    ]
    assert not report.repaired
    repaired = check_collection(store, collection_name, repair=True)
    assert repaired.repaired
    records = {r.doc_id: r for r in store.list_documents(collection_name)}
    # a keeps its two chunks but is pending: the next ingest re-embeds what is missing
    assert records["aaaaaaaaaaaaaaaa"].state == "pending"
    assert records["bbbbbbbbbbbbbbbb"].state == "done"
    assert records["dddddddddddddddd"].chunk_count == 1
    assert records["dddddddddddddddd"].source == "dddddddddddddddd.txt"
    assert set(store.chunk_ids_of(collection_name, "cccccccccccccccc")) == set(
        chunk_ids("cccccccccccccccc", "v1", 2)
    )
    assert index.indexed_ids(collection_name) == set(store.chunk_owners(collection_name))
    after = check_collection(store, collection_name)
    assert [(p.kind, p.subject) for p in after.problems] == [("pending", "aaaaaaaaaaaaaaaa")]


def test_a_store_written_only_through_its_protocol_checks_clean(store, collection_name):
    store = own(store)
    index = SetIndex()
    store.subscribe(index)
    store.ensure_collection(collection_name, "m", 2)
    for n, doc_id in enumerate(["1111111111111111", "2222222222222222"], start=1):
        doc(store, collection_name, doc_id, "v1", n)
        doc(store, collection_name, doc_id, "v2", n + 1)
    store.delete_document(collection_name, "1111111111111111")
    report = check_collection(store, collection_name)
    assert report.clean
    assert (report.documents, report.chunks) == (1, 3)


def test_docent_check_reports_deleted_terms_left_on_disk_and_purges_them(tmp_path):
    # a delete in a segment of 2,101 chunks: rewriting 2,100 for it is not in proportion,
    # so the index keeps its terms (unsearchable) until --purge erases them
    path = tmp_path / "chroma"
    store = ChunkStore.from_settings(ChromaSettings(path=path))
    indexes = LexicalIndexes(store, path / "lexical")
    store.subscribe(indexes)
    track_changes(store).listeners.append(indexes.own_entries)
    store.ensure_collection("docs", "m", 2)
    big, gone = document("aaaaaaaaaaaaaaaa", "v1", 2_100), document("bbbbbbbbbbbbbbbb", "v1", 1)
    store.write_documents("docs", [big, gone], embed_model="m", batch_size=5_000)
    assert [s.max_doc for s in read_segments(indexes.folder / "docs" / "index")] == [2_101]
    assert store.delete_document("docs", "bbbbbbbbbbbbbbbb") == 1
    indexes.close()  # as a CLI ingest exits: the large segment is left as it is
    store.close()
    gone_id = gone.chunks[0].id
    env = {"DOCENT_CHROMA_PATH": str(path), "PATH": "/usr/bin:/bin"}

    def check(*args: str) -> str:
        command = [sys.executable, "-m", "api.cli", "check", "docs", *args]
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr  # not a disagreement
        return done.stdout

    def on_disk(chunk_id: str) -> list[tuple[str, int]]:
        """The id's term as a fresh tantivy reader of the folder finds it (deleted too)."""
        searcher = tantivy.Index.open(
            str(path / "lexical" / "slot-0" / "docs" / "index")
        ).searcher()
        return list(searcher.terms_with_prefix("id", chunk_id))

    report = json.loads(check("--json"))
    assert (report["clean"], report["deleted_on_disk"], report["chunks"]) == (True, 1, 2_100)
    assert on_disk(gone_id) == [(gone_id, 1)]  # still in the segment's term dictionary
    assert "1 deleted chunks' terms are still in the lexical index's files" in check()
    purged = json.loads(check("--purge", "--json"))
    assert (purged["clean"], purged["deleted_on_disk"], purged["chunks"]) == (True, 0, 2_100)
    assert on_disk(gone_id) == []
    assert "deleted chunks' terms" not in check()


def test_docent_check_command_exit_codes(tmp_path):
    path = tmp_path / "chroma"
    store = ChunkStore.from_settings(ChromaSettings(path=path))
    store.ensure_collection("docs", "m", 2)
    doc(store, "docs", "aaaaaaaaaaaaaaaa", "v1", 2)
    store.put_records(
        "docs",
        [
            replace(
                store.get_records("docs", ["aaaaaaaaaaaaaaaa"])["aaaaaaaaaaaaaaaa"], state="pending"
            )
        ],
    )
    store.close()
    env = {"DOCENT_CHROMA_PATH": str(path), "PATH": "/usr/bin:/bin"}

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "api.cli", "check", *args]
        return subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )

    found = check("docs")
    assert found.returncode == 1, found.stderr
    assert "pending aaaaaaaaaaaaaaaa: aaaaaaaaaaaaaaaa.txt: interrupted write" in found.stdout
    repaired = check("docs", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    clean = check("docs")
    assert clean.returncode == 0
    assert "records, chunks and derived indexes agree" in clean.stdout
    missing = check("nothing-here")
    assert missing.returncode == 2
    assert "Collection 'nothing-here' does not exist" in missing.stderr
