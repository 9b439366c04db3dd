"""Hybrid fusion that notices when dense retrieval is guessing.

Reciprocal rank fusion (RRF) gives the dense and the lexical ranking equal say. When the
embedding model does not understand a query's language (all-minilm on Chinese or Arabic),
its ranking is noise, and equal say halves the quality that BM25 alone reaches. So each
query's dense ranking gets a weight in ``[0, 1]`` from two questions about its cosines,
both asked in the same units: how many standard deviations a cosine lies above the mean
of the query's cosines to the collection (``z``; the mean ``m`` and spread ``s`` come
from a fixed sample of stored vectors, :class:`CollectionProfile`, cached per collection).

**Does dense's best match beat chance?** If the cosines were noise, the best of ``N``
chunks would lie near ``sqrt(2 ln N)`` standard deviations above the mean (the expected
maximum of ``N`` Gaussian draws), so ``ratio = z(best) / sqrt(2 ln N)`` near 1 means "the
best match is what chance gives". This part of the weight is
``clip((ratio - CHANCE) / MARGIN, 0, 1)``: none at chance, all once the best match stands
:data:`MARGIN` beyond it. Real cosine tails are heavier than a Gaussian's, so chance is
set at :data:`CHANCE` = 1.3, not 1: with all-minilm on XQuAD, 90% of the Chinese and
Arabic queries have ratios below 1.23 and 1.03; the English median is 1.61.

**Does dense agree with BM25's best hit?** The chunk BM25 ranks first shares the query's
terms. A model that understands the query places it well above the mean (median ``z``:
SciFact 4.8, XQuAD English 5.0); to a model that does not, it is one chunk among others
(median ``z``: XQuAD Arabic 0.0, Chinese 1.4). This part adds up to
:data:`AGREEMENT_SHARE` (half the weight):
``AGREEMENT_SHARE * clip((z - AGREEMENT_FROM) / AGREEMENT_SPAN, 0, 1)``. It gives dense
its say on queries whose best match does not stand out by itself (about half the SciFact
claims) while it agrees with BM25, which the first part alone took away.

The weight is the sum of the two parts, at most 1. The lexical ranking always has weight
1: a BM25 hit is evidence, and when BM25 finds nothing, RRF is left with dense alone
anyway. No extra model call: the query's one embedding, about a thousand dot products,
and the BM25 top hit's vector, looked up by id only when the dense list does not carry
its cosine and that cosine could still count (:func:`lexical_top_cosine`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from retrieval.types import Hit

CHANCE = 1.3
"""The ratio at and below which the best dense match is taken for chance."""
MARGIN = 0.75
"""How far beyond :data:`CHANCE` the ratio must be for the dense ranking's full weight."""
AGREEMENT_FROM = 1.5
"""The ``z`` of BM25's top hit at and below which dense is not taken to agree with it."""
AGREEMENT_SPAN = 2.5
"""How far beyond :data:`AGREEMENT_FROM` that ``z`` must be for the agreement's full share."""
AGREEMENT_SHARE = 0.5
"""The most weight that agreement with BM25's top hit gives the dense ranking."""
PROFILE_SAMPLE = 1024
"""Stored vectors sampled per collection to estimate the cosine distribution."""
MIN_PROFILE = 16
"""Below this many chunks, no profile: dense keeps full weight (too few to judge)."""


@dataclass(frozen=True)
class QueryCosines:
    """The distribution of one query's cosines to a collection's chunks (estimated)."""

    mean: float
    spread: float
    count: int

    def z(self, cosine: float) -> float:
        """How many spreads ``cosine`` lies above the mean."""
        return (cosine - self.mean) / self.spread

    def chance_ratio(self, best: float) -> float:
        """``z(best) / sqrt(2 ln N)``: about 1 when ``best`` is the best of ``N`` noise draws."""
        return self.z(best) / math.sqrt(2.0 * math.log(self.count))


@dataclass(frozen=True)
class CollectionProfile:
    """A sample of a collection's (unit) chunk vectors and its chunk count."""

    sample: npt.NDArray[np.float32]
    count: int

    @classmethod
    def of(cls, vectors: Sequence[Sequence[float]], count: int) -> CollectionProfile:
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return cls(sample=matrix / np.clip(norms, 1e-12, None), count=count)

    def cosines(self, query: Sequence[float]) -> QueryCosines | None:
        """The query's cosine distribution; None when the profile is too small to judge."""
        if len(self.sample) < MIN_PROFILE or self.count < MIN_PROFILE:
            return None
        q = np.asarray(query, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        if norm == 0.0 or q.shape[0] != self.sample.shape[1]:
            return None
        cosines = self.sample @ (q / norm)
        spread = float(cosines.std())
        if spread <= 1e-9:
            return None
        return QueryCosines(mean=float(cosines.mean()), spread=spread, count=self.count)

    def chance_ratio(self, query: Sequence[float], best: float) -> float | None:
        """:meth:`QueryCosines.chance_ratio` of the best cosine ``best``, or None."""
        cosines = self.cosines(query)
        return None if cosines is None else cosines.chance_ratio(best)


def dense_weight(ratio: float | None, agreement_z: float | None = None) -> float:
    """The dense ranking's weight in ``[0, 1]`` (see the module docstring).

    ``ratio``: its best match's :meth:`QueryCosines.chance_ratio` (None: nothing to judge
    by, weight 1); ``agreement_z``: the ``z`` of BM25's top hit (None: no lexical hit).
    """
    if ratio is None:
        return 1.0
    beats_chance = _ramp(ratio, CHANCE, MARGIN)
    agrees = 0.0 if agreement_z is None else _ramp(agreement_z, AGREEMENT_FROM, AGREEMENT_SPAN)
    return min(1.0, beats_chance + AGREEMENT_SHARE * agrees)


def _ramp(value: float, start: float, span: float) -> float:
    return min(1.0, max(0.0, (value - start) / span))


LookUp = Literal["look up"]
LOOK_UP: Final[LookUp] = "look up"
""":func:`lexical_top_cosine`'s answer when the cosine must be computed from the vector."""


def lexical_top_cosine(
    cosines: QueryCosines, dense: Sequence[Hit], lexical: Sequence[Hit]
) -> float | LookUp | None:
    """The dense cosine of BM25's top hit, as far as the two ranked lists tell.

    Its dense score when dense found it too; None when there is no lexical hit, or when
    even the last (lowest) dense cosine is too low to count as agreement, so the top hit's
    (lower still) cannot count either; else :data:`LOOK_UP`: compute it from its vector.
    """
    if not lexical:
        return None
    top = lexical[0].id
    for hit in dense:
        if hit.id == top:
            return hit.score
    if not dense or cosines.z(dense[-1].score) <= AGREEMENT_FROM:
        return None
    return LOOK_UP


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of two vectors (0 when either is zero)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norms if norms > 0.0 else 0.0


def weighted_rrf(rankings: Sequence[tuple[Sequence[Hit], float]], rrf_k: int) -> list[Hit]:
    """Fuse ranked lists; a hit scores ``sum(weight / (rrf_k + rank))`` (rank from 1).

    Metadata of a chunk found by several lists is merged, so both the dense and the
    lexical score survive; its text is the first non-empty one (lexical hits carry none).
    A list of weight 0 still lends its metadata but adds nothing to the score.
    """
    scores: dict[str, float] = {}
    merged: dict[str, Hit] = {}
    for ranking, weight in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (rrf_k + rank)
            previous = merged.get(hit.id)
            metadata = {**previous.metadata, **hit.metadata} if previous else dict(hit.metadata)
            text = previous.text if previous and previous.text else hit.text
            merged[hit.id] = Hit(id=hit.id, text=text, score=0.0, metadata=metadata)
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return [
        Hit(id=i, text=merged[i].text, score=scores[i], metadata=merged[i].metadata) for i in order
    ]
