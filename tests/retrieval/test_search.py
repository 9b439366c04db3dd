"""Searcher over a real in-memory Chroma with the hash-based fake embedder."""

from __future__ import annotations

import pytest

from retrieval.errors import CollectionNotFound, EmbeddingModelMismatch, InvalidRequest
from retrieval.filters import MetadataFilter
from retrieval.lexical import Analyzer, LexicalIndexes
from retrieval.search import (
    DENSE_SCORE_KEY,
    Searcher,
    SearchRequest,
    follow_writes,
    is_relevant,
    lexical_indexes_for,
    lexical_root,
    mmr_rerank,
    reciprocal_rank_fusion,
)
from retrieval.settings import Settings
from retrieval.store import ChunkReader, ChunkStore, DocumentRecord, chunk_ids, doc_id_for
from retrieval.types import Chunk, Hit
from tests.fakes import FakeEmbedder
from tests.retrieval.fixtures_retrieval import Doc, fill_store, make_chunks

DOCS = [
    Doc("manual.pdf", "The pump must be primed with water before starting.", 1),
    Doc("manual.pdf", "Replace the filter cartridge every six months.", 2),
    Doc("manual.pdf", "The warranty covers the motor for five years.", 3),
    Doc("faq.md", "Customer support is open Monday to Friday.", 0),
    Doc("faq.md", "Orders ship within two business days.", 0),
]


@pytest.fixture
async def searcher(tmp_path):
    settings = Settings()
    settings.chroma.path = tmp_path
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder(dimension=64)
    await fill_store(store, "docs", DOCS, embedder)
    return Searcher(settings, store, embedder)


def _hit(i: str, score: float = 1.0) -> Hit:
    return Hit(id=i, text=i, score=score)


def test_rrf_scores_and_order():
    fused = reciprocal_rank_fusion([[_hit("a"), _hit("b")], [_hit("b"), _hit("c")]], rrf_k=60)
    assert [h.id for h in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)
    assert fused[2].score == pytest.approx(1 / 62)


def test_rrf_keeps_the_text_of_the_list_that_has_one():
    dense = Hit("a", "the text", 0.9, {DENSE_SCORE_KEY: 0.9})
    lexical = Hit("a", "", 3.0, {"score_lexical": 3.0})  # lexical hits carry no text
    assert reciprocal_rank_fusion([[dense], [lexical]], rrf_k=1)[0].text == "the text"
    assert reciprocal_rank_fusion([[lexical], [dense]], rrf_k=1)[0].text == "the text"


def test_rrf_merges_metadata_of_both_lists():
    dense = Hit("a", "t", 0.9, {DENSE_SCORE_KEY: 0.9})
    lexical = Hit("a", "t", 3.0, {"score_lexical": 3.0})
    (fused,) = reciprocal_rank_fusion([[dense], [lexical]], rrf_k=1)
    assert fused.metadata == {DENSE_SCORE_KEY: 0.9, "score_lexical": 3.0}


def test_mmr_prefers_a_different_chunk_over_a_duplicate():
    hits = [
        Hit("1", "pump priming water start", 3),
        Hit("2", "pump priming water start", 2),
        Hit("3", "warranty motor years", 1),
    ]
    assert [h.id for h in mmr_rerank(hits, 2, Analyzer())] == ["1", "3"]
    assert [h.id for h in mmr_rerank(hits, 3, Analyzer(), weight=1.0)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("hit", "expected"),
    [
        (Hit("a", "t", 0.5, {DENSE_SCORE_KEY: 0.5}), True),
        (Hit("a", "t", 0.1, {DENSE_SCORE_KEY: 0.1}), False),
        (Hit("a", "t", 2.0, {"score_lexical": 2.0}), True),
        (Hit("a", "t", 0.0, {}), False),
    ],
)
def test_is_relevant(hit, expected):
    assert is_relevant(hit, 0.3) is expected


async def test_each_mode_finds_the_matching_chunk(searcher):
    for mode in ("dense", "lexical", "hybrid"):
        hits = await searcher.search(
            SearchRequest("When does the warranty cover the motor?", "docs", k=2, mode=mode)
        )
        assert hits[0].text == DOCS[2].text, mode
        assert len(hits) <= 2


async def test_hybrid_keeps_both_scores(searcher):
    hits = await searcher.search(SearchRequest("filter cartridge", "docs", k=3, mode="hybrid"))
    top = hits[0]
    assert top.text == DOCS[1].text
    assert DENSE_SCORE_KEY in top.metadata
    assert "score_lexical" in top.metadata
    assert top.score == pytest.approx(2 / 61)  # first in both lists, rrf_k = 60


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
async def test_filters_apply_in_every_mode(searcher, mode):
    request = SearchRequest("the pump filter warranty support", "docs", k=5, mode=mode)
    by_source = await searcher.search(
        SearchRequest(**{**request.__dict__, "filters": {"source": "faq.md"}})
    )
    assert by_source
    assert {h.source for h in by_source} == {"faq.md"}
    pages = await searcher.search(
        SearchRequest(**{**request.__dict__, "filters": {"page_min": 2, "page_max": 3}})
    )
    assert pages
    assert {h.page for h in pages} <= {2, 3}


async def test_mmr_returns_k_distinct_hits(searcher):
    hits = await searcher.search(SearchRequest("pump water", "docs", k=3, mmr=True))
    assert len(hits) == 3
    assert len({h.id for h in hits}) == 3


async def test_unknown_collection(searcher):
    for mode in ("dense", "lexical"):
        with pytest.raises(CollectionNotFound):
            await searcher.search(SearchRequest("x", "nope", mode=mode))


async def test_refuses_another_embedding_model(searcher, tmp_path):
    other = Searcher(searcher._settings, searcher._store, FakeEmbedder(model="other-model"))
    with pytest.raises(EmbeddingModelMismatch, match="built with embedding model 'fake-embed'"):
        await other.search(SearchRequest("pump", "docs", mode="hybrid"))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SearchRequest("  ", "docs"), "Expected a non-empty query"),
        (SearchRequest("pump", "docs", k=0), "Expected k between 1 and 1000, got 0"),
        (SearchRequest("pump", "docs", mode="fuzzy"), "Expected mode to be one of"),  # type: ignore[arg-type]
        (SearchRequest("pump", "docs", filters={"page": [1, 2]}), "got list"),
        (SearchRequest("pump", "docs", filters={"page_min": "2"}), "page_min to be a whole"),
        (SearchRequest("pump", "docs", filters={"page_min": 3, "page_max": 2}), "page_min <="),
        (SearchRequest("pump", "docs", filters={"$or": 1}), "Expected filter keys"),
    ],
)
async def test_bad_requests_say_what_was_expected(searcher, request_, message):
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        await searcher.search(request_)


def test_filter_where_and_predicate_agree():
    flt = MetadataFilter.parse({"source": "a.pdf", "page_min": 2, "page_max": 4, "lang": "en"})
    assert flt.where() == {
        "$and": [
            {"source": {"$eq": "a.pdf"}},
            {"lang": {"$eq": "en"}},
            {"page": {"$gte": 2}},
            {"page": {"$lte": 4}},
        ]
    }
    assert flt.matches({"source": "a.pdf", "page": 3, "lang": "en"})
    assert not flt.matches({"source": "a.pdf", "page": 5, "lang": "en"})
    assert not flt.matches({"source": "b.pdf", "page": 3, "lang": "en"})
    assert not flt.matches({"source": "a.pdf", "page": 3})
    assert MetadataFilter.parse({"source": "a"}).where() == {"source": {"$eq": "a"}}
    assert MetadataFilter.parse(None).where() is None
    assert not MetadataFilter.parse({"flag": True}).matches({"flag": 1})


def test_lexical_indexes_persist_beside_embedded_chroma_or_per_server(tmp_path):
    settings = Settings()
    settings.chroma.path = tmp_path
    assert lexical_root(settings, ChunkStore.ephemeral()) is None
    embedded = ChunkStore.from_settings(settings.chroma)
    assert lexical_root(settings, embedded) == tmp_path / "lexical"
    server = settings.model_copy(
        update={"chroma": settings.chroma.model_copy(update={"host": "chroma.internal"})}
    )
    # a server's replicas each keep a local copy, so that a restart catches up, not rebuilds
    assert lexical_root(server, embedded) == tmp_path / "lexical-servers" / "chroma.internal-8000"


class RecordingReader(ChunkReader):
    """A real reader that records which dense query path was taken."""

    def __init__(self, plain: ChunkReader, paths: list[str]) -> None:
        super().__init__(plain.name, plain._collection, plain._where)
        self.paths = paths

    def query(self, *args, **kwargs):
        self.paths.append("where")
        return super().query(*args, **kwargs)

    def get_with_embeddings(self, *args, **kwargs):
        self.paths.append("ids")
        return super().get_with_embeddings(*args, **kwargs)


class RecordingStore(ChunkStore):
    """A real in-memory store whose readers record which dense query path was taken."""

    def __init__(self) -> None:
        plain = ChunkStore.ephemeral()
        super().__init__(plain._client, plain.where)
        self.paths: list[str] = []

    def reader(self, name, *, embed_model=None):
        return RecordingReader(super().reader(name, embed_model=embed_model), self.paths)


async def _ingested(store: ChunkStore, embedder, pages: dict[str, list[str]], state="done"):
    """Write documents as the pipeline does: chunk ids from the record's version, then records."""
    store.ensure_collection("docs", embedder.model, embedder.dimension)
    for source, texts in pages.items():
        doc_id = doc_id_for(source)
        ids = chunk_ids(doc_id, "v1", len(texts))
        chunks = [
            Chunk(id=i, text=t, metadata={"source": source, "doc_id": doc_id, "page": n + 1})
            for n, (i, t) in enumerate(zip(ids, texts, strict=True))
        ]
        store.upsert_chunks("docs", chunks, await embedder.embed_documents(texts))
        record = DocumentRecord(doc_id, source, "h", len(texts), "now", "v1", state)
        store.put_records("docs", [record])


async def test_dense_source_filter_uses_the_documents_chunk_ids(tmp_path):
    store = RecordingStore()
    embedder = FakeEmbedder(dimension=16)
    pump = ["prime the pump", "pump filter", "pump warranty"]
    await _ingested(store, embedder, {"manual.pdf": pump, "faq.md": ["pump questions"]})
    searcher = Searcher(Settings(), store, embedder)

    hits = await searcher.search(
        SearchRequest("pump", "docs", k=5, mode="dense", filters={"source": "manual.pdf"})
    )
    assert sorted(h.text for h in hits) == sorted(pump)
    # the same ranking and cosines as Chroma's own filtered search
    vector = await embedder.embed_query("pump")
    chroma = ChunkStore.reader(store, "docs").query(vector, 5, {"source": "manual.pdf"})
    assert [h.id for h in hits] == [h.id for h in chroma]
    assert [h.score for h in hits] == pytest.approx([h.score for h in chroma], abs=1e-5)
    paged = await searcher.search(
        SearchRequest("pump", "docs", mode="dense", filters={"source": "manual.pdf", "page_min": 2})
    )
    assert sorted(h.page for h in paged) == [2, 3]
    assert store.paths == ["ids", "ids"]  # the two searches; the comparison above is direct
    unknown = await searcher.search(
        SearchRequest("pump", "docs", mode="dense", filters={"source": "nowhere.pdf"})
    )
    assert unknown == []
    assert store.paths[-1] == "where"  # no record: Chroma's metadata decides


async def test_dense_source_filter_of_a_document_being_reingested_asks_chroma():
    store = RecordingStore()
    embedder = FakeEmbedder(dimension=16)
    await _ingested(store, embedder, {"manual.pdf": ["pump one", "pump two"]}, state="pending")
    searcher = Searcher(Settings(), store, embedder)
    hits = await searcher.search(
        SearchRequest("pump", "docs", mode="dense", filters={"source": "manual.pdf"})
    )
    assert len(hits) == 2
    assert store.paths == ["where"]


async def test_an_embedded_writer_leaves_the_persisted_lexical_index_current(tmp_path):
    settings = Settings()
    settings.chroma.path = tmp_path
    writer = ChunkStore.from_settings(settings.chroma)
    follow_writes(settings, writer)  # what `docent ingest` does
    await fill_store(writer, "docs", DOCS, FakeEmbedder(dimension=64))
    lexical_indexes_for(settings, writer).close()  # at exit

    server = ChunkStore.from_settings(settings.chroma)  # then `docent serve` starts
    fetched: list[str] = []
    server.get_chunks = lambda name, ids: fetched.extend(ids) or []  # type: ignore[method-assign]
    indexes = LexicalIndexes(server, lexical_root(settings, server))
    ranked = indexes.search("docs", "warranty motor", 5)
    assert ranked[0][0] == make_chunks(DOCS, "fake")[2].id
    assert indexes.builds == 0
    assert indexes.reconciles == 0
    assert fetched == []  # the writer's own log entries were known as applied: nothing replayed


async def test_hybrid_rechecks_its_profile_at_most_once_per_window_without_chroma_counts(
    searcher, monkeypatch
):
    """The fusion profile's freshness check reads the lexical index's count: Chroma's
    count grows with the collection (7 s for the first one at 1.27M chunks here)."""
    checked: list[str] = []
    size = searcher.lexical.size

    def sizing(name: str) -> int:
        checked.append(name)
        return size(name)

    def chroma_count(name: str) -> int:
        raise AssertionError("the profile counted the collection in Chroma")

    monkeypatch.setattr(searcher.lexical, "size", sizing)
    monkeypatch.setattr(searcher._store, "chunk_count", chroma_count)
    for _ in range(3):
        await searcher.search(SearchRequest("filter cartridge", "docs", k=3, mode="hybrid"))
    assert checked == ["docs"]
    monkeypatch.setattr("retrieval.search.PROFILE_RECHECK_SECONDS", 0.0)
    await searcher.search(SearchRequest("filter cartridge", "docs", k=3, mode="hybrid"))
    assert checked == ["docs", "docs"]


async def test_a_lexical_hit_gone_from_chroma_is_dropped_and_the_next_one_gets_its_text(
    searcher, monkeypatch
):
    """Hybrid loads the texts of the first k lexical hits; a gap is filled by the next one."""
    both = await searcher.search(SearchRequest("pump filter", "docs", k=2, mode="lexical"))
    assert len(both) == 2
    assert all(h.text for h in both)
    monkeypatch.setattr(searcher, "_dense_sync", lambda *_args: [])  # fused = lexical order
    # deleted behind the index's back (as if between the index's answer and the text's read)
    searcher._store._chunks("docs").delete(ids=[both[0].id])
    (hit,) = await searcher.search(SearchRequest("pump filter", "docs", k=1, mode="hybrid"))
    assert (hit.id, hit.text, hit.source) == (both[1].id, both[1].text, both[1].source)
    assert hit.metadata["score_lexical"] == pytest.approx(both[1].score)


async def test_lexical_and_hybrid_searches_never_count_the_collection(searcher, monkeypatch):
    """Counting a collection's chunks grows with it; a search only needs it to exist."""
    await searcher.search(SearchRequest("pump", "docs", mode="hybrid"))  # profile cached
    counted: list[str] = []
    monkeypatch.setattr(searcher._store, "get_collection", lambda name: counted.append(name))
    monkeypatch.setattr(searcher._store, "chunk_count", lambda name: counted.append(name))
    for mode in ("lexical", "hybrid"):
        assert await searcher.search(SearchRequest("pump", "docs", mode=mode))
    assert counted == []


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
async def test_a_search_looks_the_collection_up_once(searcher, monkeypatch, mode):
    """Each lookup is a Chroma call of its own; hybrid made three (check, query, texts)."""
    await searcher.search(SearchRequest("pump", "docs", mode=mode))  # profile cached
    looked_up: list[str] = []
    lookup = searcher._store._chunks

    def counting(name: str):
        looked_up.append(name)
        return lookup(name)

    monkeypatch.setattr(searcher._store, "_chunks", counting)
    hits = await searcher.search(SearchRequest("pump primed", "docs", k=3, mode=mode))
    assert hits[0].text == DOCS[0].text
    assert looked_up == ["docs"]


async def test_a_missing_collection_is_reported_before_a_failing_embedder(searcher):
    class Down(FakeEmbedder):
        async def embed_query(self, text: str) -> list[float]:
            raise ConnectionError("the embedding server is down")

    down = Searcher(searcher._settings, searcher._store, Down(dimension=64))
    for mode in ("dense", "hybrid"):
        with pytest.raises(CollectionNotFound):
            await down.search(SearchRequest("pump", "nowhere", mode=mode))
