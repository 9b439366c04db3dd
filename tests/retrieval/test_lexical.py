"""Lexical retrieval: tokenisation, the tantivy index, and how indexes follow the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.filters import MetadataFilter
from retrieval.lexical import Analyzer, LexicalIndexes, default_analyzer, track_changes
from retrieval.lexical.engine import TantivyIndex
from retrieval.search import lexical_indexes_for
from retrieval.settings import ChromaSettings, Settings
from retrieval.store import ChunkStore
from retrieval.types import Chunk, LexicalTerms
from tests.fakes import FakeEmbedder
from tests.retrieval.fixtures_retrieval import Doc, fill_store, make_chunks


def test_analyzer_drops_stopwords_and_short_words():
    assert Analyzer().terms("The cat is on a Mat, x 42") == ["cat", "mat", "42"]


def test_analyzer_turns_cjk_into_bigrams():
    assert Analyzer().terms("北京大学 in Beijing") == ["北京", "京大", "大学", "beijing"]
    assert Analyzer().terms("猫") == ["猫"]


def test_analyzer_keeps_arabic_words():
    assert Analyzer().terms("جامعة القاهرة") == ["جامعة", "القاهرة"]


def test_analyzer_stems_only_latin_words():
    analyzer = Analyzer(stemmer=lambda words: [w.rstrip("s") for w in words])
    assert analyzer.terms("cats 猫猫 dogs") == ["cat", "猫猫", "dog"]
    assert analyzer.signature != Analyzer().signature


# -- one collection's tantivy index ---------------------------------------------------------


def _engine(folder, *texts: str) -> TantivyIndex:
    docs = [Doc(source=f"d{i}.txt", text=t, page=i + 1) for i, t in enumerate(texts)]
    index = TantivyIndex(folder, Analyzer())
    index.upsert(make_chunks(docs, "m"))
    index.commit()
    return index


def _ids(index: TantivyIndex, query: str, **filters) -> list[str]:
    return [i for i, _ in index.search(query, 10, MetadataFilter.parse(filters))]


def test_engine_ranks_by_bm25_and_ignores_stopword_queries(tmp_path):
    index = _engine(tmp_path, "apples and pears", "apples pie apples", "cars and roads")
    hits = index.search("apples", 10, MetadataFilter())
    assert len(hits) == 2
    assert hits[0][1] > hits[1][1] > 0  # the chunk saying "apples" more often ranks first
    assert hits[0][0] == _ids(index, "pie")[0]
    assert index.search("zebra", 5, MetadataFilter()) == []
    assert index.search("the", 5, MetadataFilter()) == []


def test_engine_filters_inside_the_index(tmp_path):
    index = TantivyIndex(tmp_path, Analyzer())
    index.upsert(
        [
            Chunk("a", "apples", {"source": "a.pdf", "page": 1, "n": 2, "flag": True, "x.y": "z"}),
            Chunk("b", "apples", {"source": "b.pdf", "page": 3, "n": 2.0, "flag": False}),
            Chunk("c", "apples", {"source": "c.pdf", "page": 5, "n": "2"}),
        ]
    )
    index.commit()
    assert _ids(index, "apples", source="b.pdf") == ["b"]
    assert sorted(_ids(index, "apples", page_min=2)) == ["b", "c"]
    assert _ids(index, "apples", page_min=2, page_max=4) == ["b"]
    assert sorted(_ids(index, "apples", n=2)) == ["a", "b"]  # 2 == 2.0, not "2"
    assert _ids(index, "apples", n="2") == ["c"]
    assert _ids(index, "apples", flag=True) == ["a"]
    assert _ids(index, "apples", **{"x.y": "z"}) == ["a"]
    assert _ids(index, "apples", source="nowhere.pdf") == []
    # a filter restricts without changing the BM25 score
    unfiltered = dict(index.search("apples", 10, MetadataFilter()))
    filtered = dict(index.search("apples", 10, MetadataFilter.parse({"source": "b.pdf"})))
    assert filtered["b"] == pytest.approx(unfiltered["b"])


def test_engine_takes_terms_analysed_elsewhere_only_from_its_own_analyzer(tmp_path):
    analyzer = Analyzer()
    index = TantivyIndex(tmp_path, analyzer)
    mine = LexicalTerms(analyzer.signature, "zebra")  # not the text's terms: must be used as is
    other = LexicalTerms(Analyzer(stopwords=frozenset()).signature, "yak")
    index.upsert(
        [
            Chunk("a", "apples", {"source": "a.txt"}, terms=mine),
            Chunk("b", "pears", {"source": "b.txt"}, terms=other),
            Chunk("c", "plums", {"source": "c.txt"}),
        ]
    )
    index.commit()
    assert (_ids(index, "zebra"), _ids(index, "apples")) == (["a"], [])
    assert (_ids(index, "yak"), _ids(index, "pears")) == ([], ["b"])  # analysed here again
    assert _ids(index, "plums") == ["c"]


def test_analyse_signs_the_terms_the_index_would_make():
    analyzer = default_analyzer()
    terms = analyzer.analyse("The running cats")
    assert terms == LexicalTerms(analyzer.signature, " ".join(analyzer.terms("The running cats")))


def test_engine_replaces_deletes_and_persists_without_texts(tmp_path):
    index = _engine(tmp_path / "ix", "alpha beta", "gamma delta", "北京大学")
    (gamma,) = _ids(index, "gamma")
    index.upsert([Chunk(gamma, "epsilon", {"source": "d1.txt"})])
    index.delete([_ids(index, "alpha")[0]])
    assert _ids(index, "alpha") != []  # buffered: not visible before the commit
    index.commit()
    assert _ids(index, "gamma") == []
    assert _ids(index, "epsilon") == [gamma]
    assert len(index) == 2
    index.close()
    reopened = TantivyIndex(tmp_path / "ix", Analyzer())
    assert len(reopened) == 2
    assert _ids(reopened, "大学") != []
    # texts are never written: only ids and terms
    data = b"".join(p.read_bytes() for p in (tmp_path / "ix").rglob("*") if p.is_file())
    assert b"alpha beta" not in data
    assert "北京大学".encode() not in data


# -- every collection's index, following the store -----------------------------------------


class CountingStore:
    """A ChunkStore that counts full scans (texts of every chunk)."""

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.scans = 0

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def iter_chunks(self, name: str, batch_size: int = 1000):
        self.scans += 1
        return self.store.iter_chunks(name, batch_size)


def _sources(indexes: LexicalIndexes, store: ChunkStore, query: str, **filters) -> set[str]:
    ids = [i for i, _ in indexes.search("docs", query, 10, MetadataFilter.parse(filters))]
    return {str(c.metadata["source"]) for c in store.get_chunks("docs", ids)}


async def test_indexes_follow_writes_in_proportion_to_each_change(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    track_changes(store)
    chunks = await fill_store(
        store, "docs", [Doc("a.txt", "red apples"), Doc("b.txt", "green pears")], embedder
    )
    counting = CountingStore(store)
    indexes = LexicalIndexes(counting, tmp_path / "lexical")
    store.subscribe(indexes)
    assert _sources(indexes, store, "apples") == {"a.txt"}
    assert counting.scans == 1  # the first open builds from Chroma ...

    changed = Chunk(id=chunks[1].id, text="green apples", metadata=chunks[1].metadata)
    store.upsert_chunks("docs", [changed], await embedder.embed_documents([changed.text]))
    assert _sources(indexes, store, "apples") == {"a.txt", "b.txt"}
    assert _sources(indexes, store, "apples", source="b.txt") == {"b.txt"}
    store.delete_document("docs", str(chunks[0].metadata["doc_id"]))
    assert _sources(indexes, store, "apples") == {"b.txt"}
    assert indexes.indexed_ids("docs") == {chunks[1].id}
    assert counting.scans == 1  # ... and later changes never rescan it
    indexes.close()

    # a restart opens the persisted index: no scan, and it is current
    fresh = LexicalIndexes(counting, tmp_path / "lexical")
    assert _sources(fresh, store, "apples") == {"b.txt"}
    assert counting.scans == 1
    assert fresh.builds == 0


async def test_a_replica_catches_up_from_the_change_log(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    track_changes(store)  # every writer appends to the log in Chroma
    (first,) = await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    counting = CountingStore(store)
    replica = LexicalIndexes(counting, tmp_path / "replica")  # not subscribed
    assert _sources(replica, store, "apples") == {"a.txt"}
    replica.close()

    # another process writes while the replica is down, and after it is back
    await fill_store(store, "docs", [Doc("b.txt", "more apples")], embedder)
    back = LexicalIndexes(counting, tmp_path / "replica")
    assert _sources(back, store, "apples") == {"a.txt", "b.txt"}  # caught up on open
    store.delete_chunks("docs", [first.id])
    back.refresh("docs")  # what a search starts in the background once a second
    assert _sources(back, store, "apples") == {"b.txt"}
    # searches themselves start that catch-up (without waiting for it)
    back.poll_seconds = 0.0
    await fill_store(store, "docs", [Doc("c.txt", "yellow apples")], embedder)
    deadline = time.monotonic() + 30
    while _sources(back, store, "apples") != {"b.txt", "c.txt"}:
        assert time.monotonic() < deadline, "the background catch-up never ran"
        await asyncio.sleep(0.05)
    assert counting.scans == 1
    assert back.builds == 0
    assert back.reconciles == 0


class BlockingStemmer:
    """Stems nothing; blocks the analysis of a text holding ``word`` until released."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, words: list[str]) -> list[str]:
        if self.word in words:
            self.entered.set()
            self.release.wait(120)
        return words


async def test_a_search_never_waits_for_a_write_and_sees_every_write_that_returned(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    stemmer = BlockingStemmer("blocker")
    indexes = LexicalIndexes(store, tmp_path / "lexical", Analyzer(stemmer=stemmer))
    store.subscribe(indexes)
    assert _sources(indexes, store, "apples") == {"a.txt"}
    pears, blocked = make_chunks([Doc("b.txt", "green pears"), Doc("c.txt", "blocker plums")], "m")
    store.upsert_chunks("docs", [pears], await embedder.embed_documents([pears.text]))
    # the next write is stuck in its analysis (the lexical half of the store's write call)
    vectors = await embedder.embed_documents([blocked.text])
    writer = threading.Thread(target=store.upsert_chunks, args=("docs", [blocked], vectors))
    writer.start()
    try:
        assert stemmer.entered.wait(60), "the write never reached the lexical index"
        found: list[set[str]] = []
        searcher = threading.Thread(target=lambda: found.append(_sources(indexes, store, "pears")))
        searcher.start()
        searcher.join(60)  # a deadlock guard: the search must not wait for the writer
        assert found == [{"b.txt"}]  # and it sees the write that returned before it
        assert writer.is_alive()  # the search ended while the write was still running
        assert _sources(indexes, store, "plums") == set()  # not returned yet: not visible
    finally:
        stemmer.release.set()
        writer.join(60)
    assert _sources(indexes, store, "plums") == {"c.txt"}  # returned: visible at once
    indexes.close()


async def test_a_write_lost_before_the_log_is_reconciled_on_open(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    indexes = LexicalIndexes(store, tmp_path / "lexical")
    assert _sources(indexes, store, "apples") == {"a.txt"}
    indexes.close()
    # no change log and no subscriber: as if the process crashed right after Chroma's write
    await fill_store(store, "docs", [Doc("b.txt", "green apples")], embedder)
    reopened = LexicalIndexes(store, tmp_path / "lexical")
    assert _sources(reopened, store, "apples") == {"a.txt", "b.txt"}
    assert reopened.reconciles == 1
    assert reopened.builds == 0


async def test_an_index_first_opened_by_a_write_is_opened_before_it(tmp_path):
    # a docent ingest's first act on the index is a write: opened after it, the index
    # would lack the write and compare every chunk id with Chroma's (a reconcile)
    chroma = ChromaSettings(path=str(tmp_path / "chroma"))
    store = ChunkStore.from_settings(chroma)
    embedder = FakeEmbedder()
    track_changes(store)
    (first,) = await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    earlier = LexicalIndexes(store, tmp_path / "lexical")
    assert _sources(earlier, store, "apples") == {"a.txt"}
    earlier.close()
    store.close()

    later = ChunkStore.from_settings(chroma)  # the next process, subscribed as it would be
    writer = LexicalIndexes(later, tmp_path / "lexical")
    later.subscribe(writer)
    track_changes(later)
    await fill_store(later, "docs", [Doc("b.txt", "green apples")], embedder)
    later.delete_document("docs", str(first.metadata["doc_id"]))
    assert writer.reconciles == 0
    assert writer.builds == 0
    assert _sources(writer, later, "apples") == {"b.txt"}
    later.close()


async def _following(tmp_path) -> tuple[ChunkStore, FakeEmbedder, LexicalIndexes]:
    """A store holding a.txt ("red apples"), its change log, and lexical indexes following it."""
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    track_changes(store)
    await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    indexes = LexicalIndexes(store, tmp_path / "lexical")
    store.subscribe(indexes)
    return store, embedder, indexes


async def test_a_recreated_collection_is_rebuilt_and_a_dropped_one_forgotten(tmp_path):
    store, embedder, indexes = await _following(tmp_path)
    assert _sources(indexes, store, "apples") == {"a.txt"}
    store.delete_collection("docs")
    assert not (indexes.folder / "docs").exists()  # deleted means gone from disk
    await fill_store(store, "docs", [Doc("c.txt", "yellow apples")], embedder)
    assert _sources(indexes, store, "apples") == {"c.txt"}


def test_processes_on_one_machine_get_their_own_slot(tmp_path):
    store = ChunkStore.ephemeral()
    first = LexicalIndexes(store, tmp_path / "lexical", default_analyzer())
    second = LexicalIndexes(store, tmp_path / "lexical", default_analyzer())
    assert first.folder != second.folder
    first.close()
    third = LexicalIndexes(store, tmp_path / "lexical", default_analyzer())
    assert third.folder == tmp_path / "lexical" / "slot-0"  # a freed slot is taken again


_VALUES = st.one_of(st.sampled_from(["a", "b", "2"]), st.integers(0, 3), st.booleans())
_METADATA = st.fixed_dictionaries(
    {"source": st.sampled_from(["a.pdf", "b.pdf"]), "page": st.integers(0, 5), "v": _VALUES}
)
_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "source": st.sampled_from(["a.pdf", "b.pdf"]),
        "v": st.one_of(_VALUES, st.floats(0, 3).map(round).map(float)),
        "page_min": st.integers(0, 3),
        "page_max": st.integers(3, 5),
    },
)


@settings(max_examples=60, deadline=None)
@given(metadata=st.lists(_METADATA, min_size=1, max_size=8), filters=_FILTERS)
def test_filters_in_the_index_agree_with_the_reference_predicate(metadata, filters):
    index = TantivyIndex(None, Analyzer())
    index.upsert([Chunk(f"c{i}", "apples", m) for i, m in enumerate(metadata)])
    index.commit()
    where = MetadataFilter.parse(filters)
    expected = {f"c{i}" for i, m in enumerate(metadata) if where.matches(m)}
    assert {i for i, _ in index.search("apples", 100, where)} == expected


async def test_two_replicas_on_a_chroma_server_follow_each_others_writes(
    chroma_server, collection_name, tmp_path
):
    host, port = chroma_server
    embedder = FakeEmbedder()

    def replica(name: str) -> tuple[ChunkStore, LexicalIndexes]:
        store = ChunkStore.from_settings(ChromaSettings(host=host, port=port))
        track_changes(store)
        indexes = LexicalIndexes(store, tmp_path / name)
        store.subscribe(indexes)
        return store, indexes

    store_a, a = replica("a")
    store_b, b = replica("b")
    (red,) = await fill_store(store_a, collection_name, [Doc("a.txt", "red apples")], embedder)

    def sources(indexes: LexicalIndexes, store: ChunkStore) -> set[str]:
        ids = [i for i, _ in indexes.search(collection_name, "apples", 10)]
        return {str(c.metadata["source"]) for c in store.get_chunks(collection_name, ids)}

    assert sources(a, store_a) == {"a.txt"}
    assert sources(b, store_b) == {"a.txt"}  # first open of B: built from Chroma
    await fill_store(store_b, collection_name, [Doc("b.txt", "green apples")], embedder)
    store_b.delete_chunks(collection_name, [red.id])
    assert sources(b, store_b) == {"b.txt"}
    a.refresh(collection_name)  # what A's searches start in the background once a second
    assert sources(a, store_a) == {"b.txt"}  # A caught up from the log: no rebuild
    assert a.builds == 1
    assert b.builds == 1


async def test_a_collection_recreated_by_another_process_is_reopened(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    track_changes(store)
    await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    replica = LexicalIndexes(store, tmp_path / "lexical", poll_seconds=0.0)  # not subscribed
    assert _sources(replica, store, "apples") == {"a.txt"}
    store.delete_collection("docs")  # by another process: this replica is not told
    await fill_store(store, "docs", [Doc("c.txt", "yellow apples")], embedder)
    deadline = time.monotonic() + 30
    while _sources(replica, store, "apples") != {"c.txt"}:
        assert time.monotonic() < deadline, "the recreated collection was never reopened"
        await asyncio.sleep(0.05)
    assert replica.builds == 2


async def test_a_replica_behind_a_trimmed_log_reconciles_by_ids(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    track_changes(store)
    (red,) = await fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder)
    replica = LexicalIndexes(store, tmp_path / "replica")  # not subscribed
    assert _sources(replica, store, "apples") == {"a.txt"}
    replica.close()
    await fill_store(store, "docs", [Doc("b.txt", "green apples")], embedder)
    store.delete_chunks("docs", [red.id])
    store.trim_changes("docs", time.time_ns())  # those entries are gone from the log
    assert store.changes_since("docs", 0) == []
    back = LexicalIndexes(store, tmp_path / "replica")
    assert _sources(back, store, "apples") == {"b.txt"}
    assert back.reconciles == 1
    assert back.builds == 0
    back.refresh("docs")
    assert back.reconciles == 1  # once: the gap is closed


def test_writers_trim_the_log_as_they_append():
    store = ChunkStore.ephemeral()
    store.ensure_collection("docs", "m", 2)
    log = track_changes(store)
    log.trim_every, log.retention_ns = 3, 0  # trim everything, every third append
    for n in range(3):
        store.upsert_chunks("docs", [Chunk(f"c{n}", "apples", {"source": "a"})], [[1.0, 0.0]])
    assert store.changes_since("docs", 0) == []
    assert store.changes_trimmed_before("docs") > 0
    store.upsert_chunks("docs", [Chunk("c9", "pears", {"source": "a"})], [[1.0, 0.0]])
    assert [e.ids for e in store.changes_since("docs", 0)] == [("c9",)]


# -- commits deferred (docent ingest): fewer commits, nothing lost -------------------------


async def test_deferred_commits_make_writes_searchable_when_the_deferral_ends(tmp_path):
    store, embedder, indexes = await _following(tmp_path)
    assert _sources(indexes, store, "apples") == {"a.txt"}  # opened (and committed) here

    with indexes.commits_deferred(60):
        await fill_store(store, "docs", [Doc("b.txt", "green apples")], embedder)
        assert _sources(indexes, store, "apples") == {"a.txt"}  # written, not yet committed
    assert _sources(indexes, store, "apples") == {"a.txt", "b.txt"}

    await fill_store(store, "docs", [Doc("c.txt", "yellow apples")], embedder)
    assert _sources(indexes, store, "apples") == {"a.txt", "b.txt", "c.txt"}  # per write again
    indexes.close()


CRASHING_WRITER = """
import asyncio, os, sys
from retrieval.filters import MetadataFilter
from retrieval.lexical.indexes import bulk_commits
from retrieval.search import follow_writes, lexical_indexes_for
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder
from tests.stores import Doc, fill_store

settings = Settings()
settings.chroma.path = sys.argv[1]
store = ChunkStore.from_settings(settings.chroma)
follow_writes(settings, store)
indexes = lexical_indexes_for(settings, store)
embedder = FakeEmbedder()
asyncio.run(fill_store(store, "docs", [Doc("a.txt", "red apples")], embedder))
with bulk_commits(store.derived, 60):
    asyncio.run(fill_store(store, "docs", [Doc("b.txt", "green pears")], embedder))
    assert indexes.search("docs", "pears", 5, MetadataFilter()) == []  # not committed
    os._exit(0)  # a crash: no commit, no close
"""


def test_writes_left_uncommitted_by_a_crash_are_replayed_from_the_change_log(tmp_path):
    path = tmp_path / "chroma"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr

    settings = Settings()
    settings.chroma.path = str(path)
    store = ChunkStore.from_settings(settings.chroma)
    indexes = lexical_indexes_for(settings, store)
    try:
        assert _sources(indexes, store, "pears") == {"b.txt"}
        assert _sources(indexes, store, "apples") == {"a.txt"}
        assert (indexes.builds, indexes.reconciles) == (0, 0)  # caught up, not rebuilt
    finally:
        indexes.close()
        store.close()
