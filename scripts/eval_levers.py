"""Query-time retrieval levers on dumps from ``scripts/eval_dump.py``, in seconds.

Usage: python scripts/eval_levers.py DUMP.npz [DUMP.npz ...]

Per dump it prints nDCG@10 of dense, lexical, RRF, the adaptive fusion
(:mod:`retrieval.fusion`, the service's code; and its best-match part alone, the rule
before), fixed dense weights, chunk-to-document aggregations, fusion per document, Rocchio
feedback for dense and an oracle weight per query, all computed in numpy from the vectors and
BM25 rankings the service has (dense is exact cosine over every chunk; Chroma's HNSW is
approximate but agrees at these sizes).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from retrieval.evaluation import score
from retrieval.fusion import PROFILE_SAMPLE, CollectionProfile, dense_weight, weighted_rrf
from retrieval.types import Hit

DEPTH = 100
POOL = 1200
"""Candidates per list, as ``docent eval retrieval`` asks (k = 300 chunks, pool = 4k)."""
Ranked = list[tuple[int, float]]


class Dump:
    def __init__(self, path: Path) -> None:
        data = np.load(path, allow_pickle=False)
        self.name = path.stem
        self.chunk_docs = data["chunk_docs"]
        vectors = data["chunk_vectors"].astype(np.float64)
        self.chunk_vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        self.query_ids = [str(q) for q in data["query_ids"]]
        queries = data["query_vectors"].astype(np.float64)
        self.query_vectors = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        self.lexical_index = data["lexical_index"]
        self.lexical_score = data["lexical_score"].astype(np.float64)
        self.qrels = json.loads(str(data["qrels"]))
        self.cosines = self.query_vectors @ self.chunk_vectors.T
        rng = np.random.default_rng(0)
        pick = rng.choice(len(vectors), size=min(PROFILE_SAMPLE, len(vectors)), replace=False)
        self.profile = CollectionProfile.of(self.chunk_vectors[pick].tolist(), len(vectors))

    def dense(self, qi: int, cosines: npt.NDArray[np.float64] | None = None) -> Ranked:
        row = self.cosines[qi] if cosines is None else cosines
        n = min(POOL, len(row) - 1)
        top = np.argpartition(-row, n)[:n]
        top = top[np.argsort(-row[top], kind="stable")]
        return list(zip(top.tolist(), row[top].tolist(), strict=True))

    def lexical(self, qi: int) -> Ranked:
        idx, scores = self.lexical_index[qi], self.lexical_score[qi]
        keep = (idx >= 0) & (scores > 0)
        return list(zip(idx[keep].tolist(), scores[keep].tolist(), strict=True))


def best_chunk(ranked: Ranked, docs: npt.NDArray[np.str_]) -> dict[str, float]:
    """A document ranks by its best chunk (as ``retrieval.evaluation`` does)."""
    out: dict[str, float] = {}
    for chunk, _ in ranked:
        doc = str(docs[chunk])
        if doc not in out:
            out[doc] = 1.0 / (len(out) + 1)
            if len(out) >= DEPTH:
                break
    return out


def sum_top(n: int) -> Callable[[Ranked, npt.NDArray[np.str_]], dict[str, float]]:
    """A document scores the sum of its best ``n`` chunks' fused scores."""

    def aggregate(ranked: Ranked, docs: npt.NDArray[np.str_]) -> dict[str, float]:
        seen: dict[str, list[float]] = {}
        for chunk, value in ranked:
            got = seen.setdefault(str(docs[chunk]), [])
            if len(got) < n:
                got.append(value)
        total = {doc: sum(values) for doc, values in seen.items()}
        return dict(sorted(total.items(), key=lambda kv: -kv[1])[:DEPTH])

    return aggregate


def per_document(
    dump: Dump, i: int, dense: Ranked, lexical: Ranked, weight: float, mix: float = 0.0
) -> Ranked:
    """Fusion per document: each list ranks documents, then weighted RRF over documents.

    Dense ranks a document by its best cosine plus ``mix`` x the mean of its chunks' in
    the list, BM25 by its best chunk; each document is returned as its first chunk found.
    """
    chunks: dict[str, list[tuple[int, float]]] = {}
    for chunk, value in dense:
        chunks.setdefault(str(dump.chunk_docs[chunk]), []).append((chunk, value))
    score = {
        d: max(v for _, v in c) + mix * float(np.mean([v for _, v in c])) for d, c in chunks.items()
    }
    dense_docs = [(chunks[d][0][0], score[d]) for d in sorted(score, key=lambda d: -score[d])]
    lexical_docs: list[tuple[int, float]] = []
    seen: set[str] = set()
    for chunk, value in lexical:
        doc = str(dump.chunk_docs[chunk])
        if doc not in seen:  # one id per document in both lists, so that their shares add up
            seen.add(doc)
            lexical_docs.append((chunks[doc][0][0] if doc in chunks else chunk, value))
    return fused(dense_docs, lexical_docs, weight)


def oracle(dump: Dump, rankings: list[Callable[[int], Ranked]]) -> float:
    """nDCG@10 when each query takes the best of ``rankings`` (knowing its answers)."""
    total = 0.0
    for i, q in enumerate(dump.query_ids):
        judged = {q: dump.qrels[q]}
        total += max(
            score(judged, {q: best_chunk(rank(i), dump.chunk_docs)})["ndcg@10"] for rank in rankings
        )
    return total / len(dump.query_ids)


def fused(dense: Ranked, lexical: Ranked, weight: float) -> Ranked:
    hits = weighted_rrf(
        [
            ([Hit(id=str(c), text="", score=s, metadata={}) for c, s in dense], weight),
            ([Hit(id=str(c), text="", score=s, metadata={}) for c, s in lexical], 1.0),
        ],
        60,
    )
    return [(int(h.id), h.score) for h in hits]


def ndcg(dump: Dump, rank: Callable[[int], Ranked], aggregate=best_chunk) -> float:
    run = {q: aggregate(rank(i), dump.chunk_docs) for i, q in enumerate(dump.query_ids)}
    return score(dump.qrels, run)["ndcg@10"]


def adaptive(dump: Dump, i: int, dense: Ranked, lexical: Ranked, agreement: bool = True) -> float:
    """The service's dense weight; ``agreement=False``: its best-match part alone."""
    cosines = dump.profile.cosines(dump.query_vectors[i].tolist())
    if cosines is None:
        return 1.0
    agreement_z = cosines.z(float(dump.cosines[i, lexical[0][0]])) if lexical else None
    return dense_weight(cosines.chance_ratio(dense[0][1]), agreement_z if agreement else None)


def rocchio(dump: Dump, i: int, feedback: Ranked, beta: float, n: int) -> Ranked:
    """Dense again with the query moved toward its ``n`` best fused chunks (no model call)."""
    top = [c for c, _ in feedback[:n]]
    moved = dump.query_vectors[i] + beta * dump.chunk_vectors[top].mean(axis=0)
    moved /= np.linalg.norm(moved)
    return dump.dense(i, dump.chunk_vectors @ moved)


def report(dump: Dump) -> dict[str, float]:
    dense = [dump.dense(i) for i in range(len(dump.query_ids))]
    lexical = [dump.lexical(i) for i in range(len(dump.query_ids))]
    weights = [adaptive(dump, i, dense[i], lexical[i]) for i in range(len(dense))]
    before = [adaptive(dump, i, dense[i], lexical[i], False) for i in range(len(dense))]
    figures = {
        "dense": ndcg(dump, lambda i: dense[i]),
        "lexical": ndcg(dump, lambda i: lexical[i]),
        "rrf": ndcg(dump, lambda i: fused(dense[i], lexical[i], 1.0)),
        "adaptive, its best-match part alone": ndcg(
            dump, lambda i: fused(dense[i], lexical[i], before[i])
        ),
        "adaptive-mean-weight, best-match part alone": float(np.mean(before)),
        "adaptive": ndcg(dump, lambda i: fused(dense[i], lexical[i], weights[i])),
        "adaptive-mean-weight": float(np.mean(weights)),
    }
    for w in (0.5, 0.75, 1.25, 1.5):
        figures[f"rrf dense x{w}"] = ndcg(dump, lambda i, w=w: fused(dense[i], lexical[i], w))
    for n in (2, 3):
        figures[f"adaptive, doc = sum of top {n} chunks"] = ndcg(
            dump, lambda i: fused(dense[i], lexical[i], weights[i]), sum_top(n)
        )
    for beta, n in ((0.5, 3), (1.0, 5)):
        figures[f"adaptive + rocchio beta={beta} n={n}"] = ndcg(
            dump,
            lambda i, beta=beta, n=n: fused(
                rocchio(dump, i, fused(dense[i], lexical[i], weights[i]), beta, n),
                lexical[i],
                weights[i],
            ),
        )
    for mix in (0.0, 0.2):
        figures[f"adaptive per document, dense doc = best + {mix} x mean"] = ndcg(
            dump, lambda i, mix=mix: per_document(dump, i, dense[i], lexical[i], weights[i], mix)
        )
    figures["rrf per document"] = ndcg(
        dump, lambda i: per_document(dump, i, dense[i], lexical[i], 1.0)
    )
    figures["oracle: best of dense weight 0, 0.5, 1 per query"] = oracle(
        dump, [lambda i, w=w: fused(dense[i], lexical[i], w) for w in (0.0, 0.5, 1.0)]
    )
    return figures


def main() -> None:
    for path in sys.argv[1:]:
        dump = Dump(Path(path))
        for name, value in report(dump).items():
            print(f"{dump.name}\t{name}\t{value:.4f}", flush=True)


if __name__ == "__main__":
    main()
