"""Adaptive fusion: the dense ranking loses its say exactly when its best match is chance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval.fusion import CHANCE, MARGIN, CollectionProfile, dense_weight, weighted_rrf
from retrieval.search import reciprocal_rank_fusion
from retrieval.types import Hit


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def collection() -> np.ndarray:
    return _unit(np.random.default_rng(7).normal(size=(2000, 64)))


def test_a_random_query_s_best_match_is_chance(collection):
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    queries = _unit(np.random.default_rng(8).normal(size=(50, 64)))
    ratios = [profile.chance_ratio(q.tolist(), float((collection @ q).max())) for q in queries]
    assert all(r is not None and 0.7 < r < CHANCE for r in ratios), ratios
    assert {dense_weight(r) for r in ratios} == {0.0}


def test_a_query_near_one_chunk_stands_out(collection):
    profile = CollectionProfile.of(collection[:1000].tolist(), count=len(collection))
    noise = np.random.default_rng(9).normal(scale=0.02, size=64)
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
