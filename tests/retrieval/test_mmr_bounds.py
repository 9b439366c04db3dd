"""MMR is bounded (issue 10, item 8): the same picks as the plain greedy rule, less work."""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.errors import InvalidRequest
from retrieval.lexical import Analyzer
from retrieval.search import MMR_LAMBDA, MMR_MAX_K, Searcher, SearchRequest, mmr_rerank
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.types import Hit
from tests.fakes import FakeEmbedder
from tests.retrieval.fixtures_retrieval import Doc, fill_store

WORDS = ["pump", "water", "valve", "seal", "motor", "filter", "pressure", "flow", "tank"]


TIE = 1e-9
"""Gains this close are a tie: either pick is the greedy rule's (float rounding decides)."""


def _assert_greedy(hits: list[Hit], picked: list[str], k: int, analyzer: Analyzer) -> None:
    """Each pick has the best gain of the greedy rule as first written (every cosine
    recomputed at every step), up to a tie."""

    def cosine(a: Counter[str], b: Counter[str]) -> float:
        if not a or not b:
            return 0.0
        dot = sum(count * b[term] for term, count in a.items() if term in b)
        norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
        return dot / norm

    if len(hits) <= 1:
        assert picked == [h.id for h in hits[:k]]
        return
    assert len(picked) == len(set(picked)) == min(k, len(hits))
    index = {h.id: i for i, h in enumerate(hits)}
    vectors = [Counter(analyzer.terms(hit.text)) for hit in hits]
    relevance = [1.0 - i / len(hits) for i in range(len(hits))]
    chosen: list[int] = []
    remaining = list(range(len(hits)))
    for pick in picked:

        def gain(i: int) -> float:
            redundancy = max((cosine(vectors[i], vectors[j]) for j in chosen), default=0.0)
            return MMR_LAMBDA * relevance[i] - (1.0 - MMR_LAMBDA) * redundancy

        best = max(gain(i) for i in remaining)
        assert gain(index[pick]) >= best - TIE, (pick, chosen)
        chosen.append(index[pick])
        remaining.remove(index[pick])


def _hits(texts: list[str]) -> list[Hit]:
    return [Hit(id=str(i), text=t, score=1.0, metadata={}) for i, t in enumerate(texts)]


@settings(max_examples=80, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join),
        min_size=0,
        max_size=25,
    ),
    k=st.integers(min_value=1, max_value=30),
)
def test_mmr_picks_what_the_plain_greedy_rule_picks(texts: list[str], k: int) -> None:
    hits = _hits(texts)
    analyzer = Analyzer()
    _assert_greedy(hits, [h.id for h in mmr_rerank(hits, k, analyzer)], k, analyzer)


def test_mmr_at_the_cap_report() -> None:
    """Not a timing assertion: prints the cost of the largest MMR a request can ask for."""
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(200)) for _ in range(4 * MMR_MAX_K)]
    started = time.process_time()
    picked = mmr_rerank(_hits(texts), MMR_MAX_K, Analyzer())
    spent = time.process_time() - started
    print(f"mmr k={MMR_MAX_K} over {len(texts)} candidates: {spent:.2f} s CPU")
    assert len({h.id for h in picked}) == MMR_MAX_K


async def test_mmr_beyond_its_cap_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    settings.chroma.path = tmp_path
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder(dimension=64)
    await fill_store(store, "docs", [Doc("a.md", "The pump needs water.", 0)], embedder)
    searcher = Searcher(settings, store, embedder)
    with pytest.raises(InvalidRequest, match="mmr"):
        await searcher.search(SearchRequest("pump", "docs", k=MMR_MAX_K + 1, mmr=True))
    hits = await searcher.search(SearchRequest("pump", "docs", k=MMR_MAX_K, mmr=True))
    assert [h.text for h in hits] == ["The pump needs water."]
