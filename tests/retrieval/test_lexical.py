"""BM25 tokenisation, scoring, filters, persistence and consistency with the store."""

from __future__ import annotations

from retrieval.lexical import Analyzer, LexicalIndex, LexicalIndexes
from retrieval.store import ChunkStore
from retrieval.types import Chunk
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


def _index(*texts: str, **meta) -> LexicalIndex:
    docs = [Doc(source=f"d{i}.txt", text=t, page=i + 1) for i, t in enumerate(texts)]
    return LexicalIndex(make_chunks(docs, "m"), Analyzer())


def test_search_ranks_by_bm25_and_drops_zero_scores():
    index = _index("apples and pears", "the apple pie recipe uses apples", "cars and roads")
    hits = index.search("apples", k=10)
    assert [h.source for h in hits] == ["d0.txt", "d1.txt"]
    assert hits[0].score >= hits[1].score > 0
    assert hits[0].metadata["score_lexical"] == hits[0].score
    assert index.search("zebra", k=5) == []
    assert index.search("the", k=5) == []  # only a stopword


def test_search_applies_the_predicate():
    index = _index("apples here", "apples there", "apples everywhere")
    hits = index.search("apples", k=10, predicate=lambda m: m["page"] in (2, 3))
    assert sorted(h.metadata["page"] for h in hits) == [2, 3]
    assert index.search("apples", k=10, predicate=lambda m: False) == []


def test_empty_index_finds_nothing():
    assert LexicalIndex([], Analyzer()).search("anything", k=3) == []


def test_save_and_load_round_trip(tmp_path):
    index = _index("alpha beta", "gamma delta", "北京大学")
    index.save(tmp_path / "ix")
    loaded = LexicalIndex.load(tmp_path / "ix", Analyzer())
    assert loaded is not None
    assert [h.id for h in loaded.search("gamma", 3)] == [h.id for h in index.search("gamma", 3)]
    assert loaded.search("大学", 3)[0].text == "北京大学"
    other = Analyzer(stemmer=lambda words: words)
    assert LexicalIndex.load(tmp_path / "ix", other) is None  # built differently: rebuild


class CountingStore:
    """Wraps a ChunkStore to count full scans."""

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.scans = 0

    def revision(self, name: str) -> str:
        return self.store.revision(name)

    def iter_chunks(self, name: str, batch_size: int = 1000):
        self.scans += 1
        return self.store.iter_chunks(name, batch_size)


async def test_indexes_follow_ingest_change_and_delete(tmp_path):
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    chunks = await fill_store(
        store, "docs", [Doc("a.txt", "red apples"), Doc("b.txt", "green pears")], embedder
    )
    counting = CountingStore(store)
    indexes = LexicalIndexes(counting, tmp_path / "lexical")
    assert [h.source for h in indexes.get("docs").search("apples", 5)] == ["a.txt"]
    indexes.get("docs")
    assert counting.scans == 1  # same revision: cached

    # change: b.txt now mentions apples too
    changed = Chunk(id=chunks[1].id, text="green apples", metadata=chunks[1].metadata)
    store.upsert_chunks("docs", [changed], await embedder.embed_documents([changed.text]))
    assert {h.source for h in indexes.get("docs").search("apples", 5)} == {"a.txt", "b.txt"}
    # delete
    store.delete_document("docs", str(chunks[0].metadata["doc_id"]))
    assert [h.source for h in indexes.get("docs").search("apples", 5)] == ["b.txt"]
    assert counting.scans == 3
    # persisted: one folder, the current revision; a new process loads it without a scan
    folders = list((tmp_path / "lexical" / "docs").iterdir())
    assert len(folders) == 1
    fresh = LexicalIndexes(counting, tmp_path / "lexical")
    assert [h.source for h in fresh.get("docs").search("apples", 5)] == ["b.txt"]
    assert counting.scans == 3


async def test_server_mode_keeps_indexes_in_memory(tmp_path):
    store = ChunkStore.ephemeral()
    await fill_store(store, "docs", [Doc("a.txt", "red apples")], FakeEmbedder())
    indexes = LexicalIndexes(store, None)
    assert indexes.get("docs").search("apples", 1)[0].source == "a.txt"
    assert indexes.builds == 1
