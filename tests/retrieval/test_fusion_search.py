"""Hybrid search hands adaptive fusion the right evidence: the chance ratio of dense's best
match and the dense cosine of BM25's top hit, its vector loaded with the lexical hits' texts
(one Chroma lookup, in the lexical half's thread hop).

A real in-memory Chroma and tantivy index; the hash-based fake embedder (texts sharing
words get positive cosines)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from retrieval import fusion
from retrieval import search as search_module
from retrieval.filters import MetadataFilter
from retrieval.fusion import LOOK_UP, cosine
from retrieval.search import Searcher, SearchRequest
from retrieval.settings import Settings
from retrieval.store import ChunkReader, ChunkStore
from retrieval.types import Chunk
from tests.fakes import FakeEmbedder, hash_vector
from tests.stores import Doc, fill_store, make_chunks

WORDS = [
    "pump",
    "filter",
    "motor",
    "valve",
    "seal",
    "pipe",
    "tank",
    "hose",
    "gauge",
    "meter",
    "cable",
    "switch",
    "relay",
    "fuse",
    "panel",
    "boiler",
    "heater",
    "fan",
    "blade",
    "belt",
    "gear",
    "shaft",
    "bearing",
    "spring",
    "bolt",
    "nut",
    "screw",
    "washer",
    "clamp",
]
DOCS = [
    Doc(f"doc{i}.txt", " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(6)))
    for i in range(40)
]
"""40 chunks (enough for a fusion profile) of six words each, overlapping in vocabulary."""
TEXTS = {chunk.id: chunk.text for chunk in make_chunks(DOCS, "fake-embed")}
QUERY = "pump filter valve"


@pytest.fixture
async def searcher(tmp_path):
    settings = Settings()
    settings.chroma.path = tmp_path
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder(dimension=64)
    await fill_store(store, "docs", DOCS, embedder)
    return Searcher(settings, store, embedder)


def _recording(calls: list[tuple[Any, ...]], real: Callable[..., Any]) -> Callable[..., Any]:
    def record(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    return record


def _vector_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Record the store's lookups of vectors by id (collection, ids)."""
    looked_up: list[tuple[str, list[str]]] = []
    read = ChunkReader.get_with_embeddings

    def recording(reader: ChunkReader, ids: Sequence[str]) -> list[tuple[Chunk, list[float]]]:
        looked_up.append((reader.name, list(ids)))
        return read(reader, ids)

    monkeypatch.setattr(ChunkReader, "get_with_embeddings", recording)
    return looked_up


def _spy(searcher: Searcher, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """Record the fusion weight's arguments and the store's lookups of vectors by id."""
    weighed: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        search_module, "dense_weight", _recording(weighed, search_module.dense_weight)
    )
    looked_up = _vector_reads(monkeypatch)
    return weighed, looked_up


def _expected(searcher: Searcher) -> tuple[float, float]:
    """The chance ratio and agreement ``z`` computed here from the vectors themselves."""
    profile, _ = searcher._profiles["docs"]
    vector = hash_vector(QUERY, 64)
    cosines = profile.cosines(vector)
    assert cosines is not None
    (top_id, _), *_ = searcher.lexical.search("docs", QUERY, 20, MetadataFilter.parse(None))
    best = max(cosine(vector, hash_vector(text, 64)) for text in TEXTS.values())
    return cosines.chance_ratio(best), cosines.z(cosine(vector, hash_vector(TEXTS[top_id], 64)))


async def test_hybrid_weighs_dense_by_its_best_match_and_bm25s_top_hit(searcher, monkeypatch):
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        search_module, "dense_weight", _recording(calls, search_module.dense_weight)
    )
    looked_up = _vector_reads(monkeypatch)
    hits = await searcher.search(SearchRequest(QUERY, "docs", k=5, mode="hybrid"))
    assert hits
    ratio, agreement_z = calls[-1]  # (the first call, with the ratio alone, was not full)
    expected_ratio, expected_z = _expected(searcher)
    assert search_module.dense_weight(expected_ratio) < 1.0
    assert ratio == pytest.approx(expected_ratio, abs=1e-4)
    assert agreement_z == pytest.approx(expected_z, abs=1e-4)
    (top_id, _), *_ = searcher.lexical.search("docs", QUERY, 5, MetadataFilter.parse(None))
    dense = await searcher.search(SearchRequest(QUERY, "docs", k=20, mode="dense"))
    assert top_id in {hit.id for hit in dense}  # among the 20 dense candidates of k=5
    assert looked_up == [("docs", _first_lexical_ids(searcher, 5))]  # the texts' load alone


def _first_lexical_ids(searcher: Searcher, k: int) -> list[str]:
    ranked = searcher.lexical.search("docs", QUERY, 20, MetadataFilter.parse(None))
    return [chunk_id for chunk_id, score in ranked if score > 0.0][:k]


async def test_bm25s_top_hit_missing_from_dense_is_weighed_by_the_vector_loaded_with_its_text(
    searcher, monkeypatch
):
    monkeypatch.setattr(search_module, "lexical_top_cosine", lambda *_: LOOK_UP)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        search_module, "dense_weight", _recording(calls, search_module.dense_weight)
    )
    looked_up = _vector_reads(monkeypatch)
    await searcher.search(SearchRequest(QUERY, "docs", k=5, mode="hybrid"))
    (top_id, _), *_ = searcher.lexical.search("docs", QUERY, 5, MetadataFilter.parse(None))
    assert looked_up == [("docs", _first_lexical_ids(searcher, 5))]  # no lookup of its own
    assert looked_up[0][1][0] == top_id
    _, agreement_z = calls[-1]
    assert agreement_z == pytest.approx(_expected(searcher)[1], abs=1e-4)


async def test_plain_rrf_asks_for_no_weight_and_no_vector(searcher, monkeypatch):
    settings = searcher._settings.model_copy(deep=True)
    settings.retrieval.fusion = "rrf"
    rrf = Searcher(settings, searcher._store, searcher.embedder, lexical=searcher.lexical)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        search_module, "dense_weight", _recording(calls, search_module.dense_weight)
    )
    monkeypatch.setattr(search_module, "lexical_top_cosine", lambda *_: LOOK_UP)
    looked_up = _vector_reads(monkeypatch)
    hits = await rrf.search(SearchRequest(QUERY, "docs", k=5, mode="hybrid"))
    assert hits
    assert calls == []
    assert looked_up == []


async def test_no_lookup_when_the_best_match_alone_earns_full_weight(searcher, monkeypatch):
    monkeypatch.setattr(fusion, "CHANCE", -10.0)  # any best match now beats "chance"
    monkeypatch.setattr(search_module, "lexical_top_cosine", lambda *_: LOOK_UP)
    calls, looked_up = _spy(searcher, monkeypatch)
    await searcher.search(SearchRequest(QUERY, "docs", k=5, mode="hybrid"))
    assert len(calls) == 1
    assert len(calls[0]) == 1  # the ratio alone
    assert len(looked_up) == 1  # the lexical hits' texts, loaded with their vectors
