"""Deleted means gone from disk: a deleted chunk's terms leave the lexical index's files.

tantivy keeps a deleted document's terms in its segment until the segment holds no live
document; the purge (``LexicalIndexes.purge``, scheduled after writes and run on close)
rewrites the live chunks of such segments so tantivy drops them. These tests write into a
real embedded Chroma, delete a document with a distinctive term, and then look at the
files: tantivy's own term dictionary read afresh from the folder (the term dictionary is
an FST, so a term's letters are not contiguous bytes there), and the raw bytes of every
file for the deleted chunks' ids (stored, so present in the doc store until purged).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import tantivy

from retrieval.lexical import LexicalIndexes, track_changes
from retrieval.lexical.purge import PurgePolicy, PurgeScheduler
from retrieval.lexical.segments import orphan_files, read_segments
from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore
from retrieval.types import Chunk
from tests.fakes import FakeEmbedder
from tests.stores import Doc, fill_store

SECRET = "Quarterly zorbleflux figures of the vantablack merger"
COLLECTION = "purge"


def _other_docs(start: int, count: int) -> list[Doc]:
    return [
        Doc(f"plain-{n}.txt", f"Plain report number {n} about apples and shared words")
        for n in range(start, start + count)
    ]


async def _written(store: ChunkStore, docs: list[Doc], embedder: FakeEmbedder) -> list[Chunk]:
    return await fill_store(store, COLLECTION, docs, embedder)


def _files_holding(folder: Path, needles: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits = [n for n in needles if n.encode() in data]
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found


def _terms_on_disk(index_folder: Path, term: str) -> list[tuple[str, int]]:
    """What a fresh tantivy reader of the folder finds for ``term`` (deleted docs count)."""
    searcher = tantivy.Index.open(str(index_folder)).searcher()
    return list(searcher.terms_with_prefix("body", term))


async def _written_with_secret(
    tmp_path: Path, **timing: float
) -> tuple[ChunkStore, LexicalIndexes, list[Chunk], str]:
    """Three writes (three segments) into embedded Chroma; the secret in the second one."""
    store = ChunkStore.from_settings(ChromaSettings(path=tmp_path / "chroma"))
    embedder = FakeEmbedder()
    indexes = LexicalIndexes(store, tmp_path / "lexical", **timing)
    store.subscribe(indexes)  # wired as in lexical_indexes_for: applied, then logged
    track_changes(store).listeners.append(indexes.own_entries)
    await _written(store, _other_docs(0, 5), embedder)
    assert indexes.search(COLLECTION, "apples", 10)  # opened: first segment on disk
    secret = await _written(store, [*_other_docs(5, 3), Doc("secret.txt", SECRET)], embedder)
    indexes.refresh(COLLECTION)
    await _written(store, _other_docs(8, 4), embedder)
    indexes.refresh(COLLECTION)
    secret_chunks = [c for c in secret if c.metadata["source"] == "secret.txt"]
    term = indexes.analyzer.terms("zorbleflux")[0]
    folder = indexes.folder / COLLECTION / "index"
    assert _terms_on_disk(folder, term) == [(term, 1)]
    assert [i for i, _ in indexes.search(COLLECTION, "zorbleflux", 5)] == [secret_chunks[0].id]
    return store, indexes, secret_chunks, term


async def _scenario(
    tmp_path: Path, **timing: float
) -> tuple[ChunkStore, LexicalIndexes, list[Chunk], str]:
    """The secret written, then its document deleted."""
    store, indexes, secret, term = await _written_with_secret(tmp_path, **timing)
    assert store.delete_document(COLLECTION, str(secret[0].metadata["doc_id"])) == 1
    return store, indexes, secret, term


async def _purged(indexes: LexicalIndexes) -> None:
    deadline = time.monotonic() + 60  # the bound is 0.5 s + the rewrite; this only stops a hang
    while indexes.pending_purges():
        assert time.monotonic() < deadline, "the scheduled purge never finished"
        await asyncio.sleep(0.05)


def _assert_gone(indexes: LexicalIndexes, secret: list[Chunk], term: str) -> None:
    folder = indexes.folder / COLLECTION / "index"
    assert indexes.search(COLLECTION, "zorbleflux", 5) == []
    assert _terms_on_disk(folder, term) == []
    assert _files_holding(indexes.folder, [c.id for c in secret]) == {}
    assert orphan_files(folder, read_segments(folder)) == []
    assert not any(s.deleted for s in read_segments(folder))
    # the other documents still search correctly, from every segment
    hits = {i for i, _ in indexes.search(COLLECTION, "apples", 20)}
    assert len(hits) == 12


async def test_the_deleted_documents_terms_leave_every_file_within_the_purge_delay(tmp_path):
    store, indexes, secret, term = await _scenario(tmp_path, purge_delay=0.05, purge_max_delay=0.5)
    assert indexes.search(COLLECTION, "zorbleflux", 5) == []  # unsearchable at once
    await _purged(indexes)
    _assert_gone(indexes, secret, term)
    assert 0 < indexes.purged < 12  # only the segment that held the deleted chunk
    # nor do Docent's own collections in Chroma (records, change log) hold the text
    for name in [c.name for c in store._client.list_collections()]:
        got = store._client.get_collection(name).get(include=["documents", "metadatas"])
        assert "zorbleflux" not in repr(got).lower(), name
    indexes.close()


async def test_a_process_that_closes_its_index_leaves_no_deleted_terms_behind(tmp_path):
    # a CLI ingest exits long before a background purge would run
    _, indexes, secret, term = await _scenario(tmp_path, purge_delay=3600, purge_max_delay=3600)
    folder = indexes.folder / COLLECTION / "index"
    assert _terms_on_disk(folder, term) == [(term, 1)]  # still there: not purged yet
    indexes.close()
    reopened = LexicalIndexes(indexes._store, tmp_path / "lexical")
    _assert_gone(reopened, secret, term)
    assert reopened.builds == 0


async def test_a_large_segment_is_purged_once_a_tenth_of_it_is_deleted(tmp_path):
    # the rewrite is kept in proportion to the deletes: 19 live chunks rewritten for one
    # deleted chunk is not (with a "small segment" of 5 here), for two it is
    store = ChunkStore.from_settings(ChromaSettings(path=tmp_path / "chroma"))
    policy = PurgePolicy(small_segment=5, rewrites_per_delete=9)
    indexes = LexicalIndexes(store, tmp_path / "lexical", purge_delay=3600, purge_policy=policy)
    store.subscribe(indexes)
    track_changes(store).listeners.append(indexes.own_entries)
    docs = [*_other_docs(0, 19), Doc("secret.txt", SECRET)]
    chunks = {c.metadata["source"]: c for c in await _written(store, docs, FakeEmbedder())}
    folder = indexes.folder / COLLECTION / "index"
    assert [s.max_doc for s in read_segments(folder)] == [20]  # one write, one segment
    term = indexes.analyzer.terms("zorbleflux")[0]

    assert store.delete_document(COLLECTION, str(chunks["secret.txt"].metadata["doc_id"])) == 1
    assert indexes.search(COLLECTION, "zorbleflux", 5) == []  # unsearchable at once
    assert indexes.purge(COLLECTION)  # nothing worth rewriting
    assert (indexes.purged, indexes.deleted_on_disk(COLLECTION)) == (0, 1)
    assert _terms_on_disk(folder, term) == [(term, 1)]

    assert store.delete_document(COLLECTION, str(chunks["plain-0.txt"].metadata["doc_id"])) == 1
    indexes.close()  # as a CLI ingest exits: now in proportion, so purged
    assert indexes.purged == 18
    assert _terms_on_disk(folder, term) == []
    assert _files_holding(indexes.folder, [chunks["secret.txt"].id]) == {}
    reopened = LexicalIndexes(store, tmp_path / "lexical", purge_policy=policy)
    assert reopened.deleted_on_disk(COLLECTION) == 0
    assert len(reopened.search(COLLECTION, "apples", 30)) == 18
    reopened.close()


async def test_erase_deleted_purges_every_segment_whatever_its_size(tmp_path):
    _, indexes, secret, term = await _scenario(tmp_path, purge_delay=3600)
    indexes.purge_policy = PurgePolicy(small_segment=0, rewrites_per_delete=0)  # never due
    assert indexes.purge(COLLECTION)
    assert indexes.deleted_on_disk(COLLECTION) == 1
    assert indexes.erase_deleted(COLLECTION)
    assert indexes.deleted_on_disk(COLLECTION) == 0
    _assert_gone(indexes, secret, term)
    indexes.close()


def test_the_scheduler_waits_for_writes_to_pause_but_not_for_ever():
    runs: list[str] = []
    scheduler = PurgeScheduler(lambda c: runs.append(c) is None, delay=0.2, max_delay=0.6)
    deadline = time.monotonic() + 30
    while not runs:  # a steady stream of writes, never a 0.2 s pause: max_delay fires
        assert time.monotonic() < deadline, "a stream of writes postponed the purge for ever"
        scheduler.changed("busy")
        time.sleep(0.02)
    scheduler.changed("quiet")
    scheduler.changed("quiet")
    while scheduler.pending():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert runs.count("quiet") == 1  # two changes in a burst: one purge
    assert scheduler.close() == []


def test_a_failed_purge_is_tried_again():
    outcomes = iter([False, True])
    calls: list[str] = []

    def run(collection: str) -> bool:
        calls.append(collection)
        return next(outcomes)

    scheduler = PurgeScheduler(run, delay=0.01, max_delay=0.01)
    scheduler.changed("c")
    deadline = time.monotonic() + 30
    while scheduler.pending() or len(calls) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert calls == ["c", "c"]
    scheduler.close()


async def test_a_copy_in_a_slot_no_process_holds_is_purged_too(tmp_path):
    store, server, secret, term = await _written_with_secret(
        tmp_path, purge_delay=0.05, purge_max_delay=0.5
    )
    asker = LexicalIndexes(store, tmp_path / "lexical")  # e.g. `docent ask` beside a server
    assert [i for i, _ in asker.search(COLLECTION, "zorbleflux", 5)] == [secret[0].id]
    idle_slot = asker.folder
    asker.close()  # it exits: its copy stays on disk, in a slot nobody holds
    assert _terms_on_disk(idle_slot / COLLECTION / "index", term) == [(term, 1)]
    assert store.delete_document(COLLECTION, str(secret[0].metadata["doc_id"])) == 1
    await _purged(server)
    _assert_gone(server, secret, term)
    assert _terms_on_disk(idle_slot / COLLECTION / "index", term) == []
    assert _files_holding(idle_slot, [c.id for c in secret]) == {}
    back = LexicalIndexes(store, tmp_path / "lexical")  # the next `docent ask`
    assert back.folder == idle_slot
    _assert_gone(back, secret, term)
    assert back.builds == 0  # caught up and purged, not deleted and rebuilt
    back.close()
    server.close()
