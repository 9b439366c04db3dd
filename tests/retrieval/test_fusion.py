"""Adaptive fusion: the dense ranking loses its say when its best match is chance and it
does not agree with BM25's top hit, and keeps it when either says it understands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval.fusion import (
    AGREEMENT_FROM,
    AGREEMENT_SHARE,
    AGREEMENT_SPAN,
    CHANCE,
    LOOK_UP,
    MARGIN,
    CollectionProfile,
    QueryCosines,
    cosine,
    dense_weight,
    lexical_top_cosine,
    weighted_rrf,
)
from retrieval.search import reciprocal_rank_fusion
from retrieval.types import Hit

DIMENSION = 384
"""As all-minilm's vectors: room for a near match to stand far beyond chance."""


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def collection() -> np.ndarray:
    return _unit(np.random.default_rng(7).normal(size=(2000, DIMENSION)))


def test_a_random_query_s_best_match_is_chance(collection):
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    queries = _unit(np.random.default_rng(8).normal(size=(50, DIMENSION)))
    ratios = [profile.chance_ratio(q.tolist(), float((collection @ q).max())) for q in queries]
    assert all(r is not None and 0.7 < r < CHANCE for r in ratios), ratios
    assert {dense_weight(r) for r in ratios} == {0.0}


def test_a_query_near_one_chunk_stands_out(collection):
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    noise = np.random.default_rng(9).normal(scale=0.02, size=DIMENSION)
    query = collection[1500] + noise
    best = float((collection @ (query / np.linalg.norm(query))).max())
    ratio = profile.chance_ratio(query.tolist(), best)
    assert ratio is not None
    assert ratio > CHANCE + MARGIN
    assert dense_weight(ratio) == 1.0


def test_weight_ramps_between_chance_and_margin():
    assert dense_weight(None) == 1.0  # nothing to judge by: plain RRF
    assert dense_weight(CHANCE) == 0.0
    assert dense_weight(CHANCE + MARGIN / 2) == pytest.approx(0.5)
    assert dense_weight(CHANCE + 2 * MARGIN) == 1.0


def test_too_small_or_degenerate_profiles_judge_nothing():
    tiny = CollectionProfile.of([[1.0, 0.0]] * 5, count=5)
    assert tiny.chance_ratio([1.0, 0.0], 1.0) is None
    flat = CollectionProfile.of([[1.0, 0.0]] * 100, count=100)  # every cosine equal
    assert flat.chance_ratio([0.0, 1.0], 0.0) is None
    assert flat.chance_ratio([0.0, 0.0], 0.0) is None  # a zero query vector
    assert flat.chance_ratio([1.0, 0.0, 0.0], 1.0) is None  # another dimension
    assert CollectionProfile.of([[3.0, 4.0]] * 20, 20).sample[0] == pytest.approx([0.6, 0.8])
    assert math.isclose(float(np.linalg.norm(flat.sample[0])), 1.0)


def _hit(i: str, **metadata: float) -> Hit:
    return Hit(id=i, text="", score=0.0, metadata=dict(metadata))


def test_a_zero_weight_list_orders_nothing_but_lends_its_metadata():
    dense = [_hit("d1", score_dense=0.9), _hit("both", score_dense=0.5)]
    lexical = [_hit("both", score_lexical=3.0), _hit("l2", score_lexical=1.0)]
    fused = weighted_rrf([(dense, 0.0), (lexical, 1.0)], rrf_k=60)
    assert [h.id for h in fused[:2]] == ["both", "l2"]
    assert fused[0].metadata == {"score_dense": 0.5, "score_lexical": 3.0}
    assert fused[-1].id == "d1"
    assert fused[-1].score == 0.0


def test_equal_weights_are_plain_rrf():
    dense = [_hit("a"), _hit("b")]
    lexical = [_hit("b"), _hit("c")]
    plain = reciprocal_rank_fusion([dense, lexical], rrf_k=60)
    weighted = weighted_rrf([(dense, 1.0), (lexical, 1.0)], rrf_k=60)
    assert [(h.id, h.score) for h in plain] == [(h.id, h.score) for h in weighted]
    assert plain[0].id == "b"
    assert plain[0].score == pytest.approx(1 / 62 + 1 / 61)


def test_agreement_with_bm25s_top_hit_earns_up_to_its_share():
    assert dense_weight(CHANCE, None) == 0.0  # no lexical hit: chance alone decides
    assert dense_weight(CHANCE, AGREEMENT_FROM) == 0.0
    halfway = AGREEMENT_FROM + AGREEMENT_SPAN / 2
    assert dense_weight(CHANCE, halfway) == pytest.approx(AGREEMENT_SHARE / 2)
    assert dense_weight(CHANCE, AGREEMENT_FROM + AGREEMENT_SPAN) == AGREEMENT_SHARE
    assert dense_weight(CHANCE, 100.0) == AGREEMENT_SHARE  # agreement alone: never all
    assert dense_weight(CHANCE + MARGIN / 2, 100.0) == pytest.approx(0.5 + AGREEMENT_SHARE)
    assert dense_weight(CHANCE + MARGIN, 100.0) == 1.0  # the sum is capped
    assert dense_weight(None, -5.0) == 1.0  # no profile: plain RRF, whatever BM25 found


def _weight(profile: CollectionProfile, query: np.ndarray, collection: np.ndarray, top: int):
    """The weight the service gives a dense ranking when BM25's top hit is chunk ``top``."""
    cosines = profile.cosines(query.tolist())
    assert cosines is not None
    row = collection @ (query / np.linalg.norm(query))
    return dense_weight(cosines.chance_ratio(float(row.max())), cosines.z(float(row[top])))


def test_noise_dense_gets_no_say_even_beside_bm25(collection):
    """A model that does not understand the query: its best match is chance, and BM25's
    top hit is to it one chunk among others."""
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    queries = _unit(np.random.default_rng(10).normal(size=(200, DIMENSION)))
    tops = np.random.default_rng(11).integers(0, len(collection), size=200)
    weights = np.array(
        [_weight(profile, q, collection, int(t)) for q, t in zip(queries, tops, strict=True)]
    )
    # to it, BM25's top hit is a normal draw: beyond AGREEMENT_FROM (1.5) 7% of the time
    assert (weights > 0.0).mean() < 0.15, weights
    assert weights.max() < AGREEMENT_SHARE / 2
    assert weights.mean() < 0.02


def test_dense_that_agrees_with_bm25_keeps_a_say_though_its_best_match_is_modest(collection):
    """A SciFact-like query: related to BM25's top hit, but not close enough to stand out
    by the best match alone."""
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    rng = np.random.default_rng(12)
    top = 1700
    query = collection[top] * 0.2 + _unit(rng.normal(size=(1, DIMENSION)))[0]
    cosines = profile.cosines(query.tolist())
    assert cosines is not None
    row = collection @ (query / np.linalg.norm(query))
    assert int(row.argmax()) == top
    assert dense_weight(cosines.chance_ratio(float(row.max()))) == 0.0  # alone: no say
    assert cosines.z(float(row[top])) > AGREEMENT_FROM + AGREEMENT_SPAN
    assert _weight(profile, query, collection, top) == AGREEMENT_SHARE


def test_confident_dense_agreeing_with_bm25_gets_full_weight(collection):
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    query = collection[1500] + np.random.default_rng(13).normal(scale=0.02, size=DIMENSION)
    assert _weight(profile, query, collection, 1500) == 1.0


def _ranked(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(id=i, text="", score=s, metadata={}) for i, s in pairs]


def test_bm25s_top_cosine_comes_from_the_dense_list_or_a_lookup_when_it_could_count():
    cosines = QueryCosines(mean=0.1, spread=0.05, count=1000)  # z(c) = (c - 0.1) / 0.05
    dense = _ranked(("a", 0.5), ("b", 0.4), ("c", 0.3))  # z 8, 6, 4
    assert lexical_top_cosine(cosines, dense, _ranked(("b", 7.0), ("x", 1.0))) == 0.4
    assert lexical_top_cosine(cosines, dense, []) is None  # no lexical hit
    # not among the dense hits, whose last has z 4 > AGREEMENT_FROM: its own may count
    assert lexical_top_cosine(cosines, dense, _ranked(("x", 7.0))) == LOOK_UP
    # below a last dense cosine at z 1: cannot count, no lookup
    low = _ranked(("a", 0.5), ("b", 0.15))
    assert lexical_top_cosine(cosines, low, _ranked(("x", 7.0))) is None


def test_cosine():
    assert cosine([3.0, 4.0], [3.0, 4.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine([1.0, 1.0], [-2.0, -2.0]) == pytest.approx(-1.0)
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
