"""Lexical levers offline (bm25s, Docent's analyzer): title carried, BM25 k1/b, RM3.

Usage: python scripts/eval_lexical_levers.py DUMP.npz CORPUS.jsonl

Uses the chunk texts of a dump (``scripts/eval_dump.py``) and prints document-level
nDCG@10 (best chunk per document) for each variant. bm25s's ``lucene`` BM25 is tantivy's
formula; the absolute figures differ from tantivy's by its rounding (tantivy stores
field norms in a byte), the differences between variants are what this measures.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt

from retrieval.evaluation import score
from retrieval.lexical import Analyzer
from retrieval.lexical.analyzer import default_analyzer

DEPTH = 100


def doc_run(scores: npt.NDArray[np.float64], docs: npt.NDArray[np.str_]) -> dict[str, float]:
    order = np.argsort(-scores, kind="stable")[: DEPTH * 4]
    out: dict[str, float] = {}
    for chunk in order.tolist():
        if scores[chunk] <= 0:
            break
        doc = str(docs[chunk])
        if doc not in out:
            out[doc] = 1.0 / (len(out) + 1)
    return out


def run(
    analyzer: Analyzer,
    texts: list[str],
    docs: npt.NDArray[np.str_],
    queries: list[str],
    qids: list[str],
    qrels: dict[str, dict[str, int]],
    *,
    k1: float = 1.2,
    b: float = 0.75,
    rm3: tuple[int, int, float] | None = None,
) -> float:
    tokens = [analyzer.terms(t) for t in texts]
    index = bm25s.BM25(k1=k1, b=b, method="lucene")
    index.index(tokens, show_progress=False)
    vocab = index.vocab_dict
    results: dict[str, dict[str, float]] = {}
    for qid, query in zip(qids, queries, strict=True):
        terms = [t for t in dict.fromkeys(analyzer.terms(query)) if t in vocab]
        if not terms:
            results[qid] = {}
            continue
        scores = index.get_scores(terms)
        if rm3 is not None:
            fb_docs, fb_terms, original = rm3
            top = np.argsort(-scores)[:fb_docs]
            weights: Counter[str] = Counter()
            for chunk in top.tolist():
                counts = Counter(tokens[chunk])
                length = sum(counts.values()) or 1
                for term, c in counts.items():
                    weights[term] += (c / length) * float(scores[chunk])
            total = sum(weights.values()) or 1.0
            expansion = {t: w / total for t, w in weights.most_common(fb_terms)}
            query_weights = {t: original / len(terms) for t in terms}
            for t, w in expansion.items():
                query_weights[t] = query_weights.get(t, 0.0) + (1 - original) * w
            scores = sum(
                (w * index.get_scores([t]) for t, w in query_weights.items() if t in vocab),
                start=np.zeros(len(texts)),
            )
        results[qid] = doc_run(np.asarray(scores, dtype=np.float64), docs)
    return score(qrels, results)["ndcg@10"]


def main() -> None:
    data = np.load(sys.argv[1], allow_pickle=False)
    titles = {
        str(row["_id"]): str(row.get("title") or "")
        for row in map(json.loads, Path(sys.argv[2]).read_text(encoding="utf-8").splitlines())
    }
    texts = [str(t) for t in data["chunk_texts"]]
    docs = data["chunk_docs"]
    titled = [
        t if not titles.get(str(d)) or titles[str(d)] in t else f"{titles[str(d)]}\n\n{t}"
        for t, d in zip(texts, docs, strict=True)
    ]
    qids = [str(q) for q in data["query_ids"]]
    queries = [str(q) for q in data["query_texts"]]
    qrels = json.loads(str(data["qrels"]))
    analyzer = default_analyzer()
    args = (docs, queries, qids, qrels)
    print("chunks as ingested        ", f"{run(analyzer, texts, *args):.4f}", flush=True)
    print("title carried             ", f"{run(analyzer, titled, *args):.4f}", flush=True)
    for k1, b in ((0.9, 0.4), (1.2, 0.5), (1.5, 0.75), (1.2, 0.9), (2.0, 0.75)):
        figure = run(analyzer, titled, *args, k1=k1, b=b)
        print(f"title, k1={k1} b={b}      ", f"{figure:.4f}", flush=True)
    for rm3 in ((10, 10, 0.5), (5, 20, 0.7)):
        print(f"title, rm3 {rm3}", f"{run(analyzer, titled, *args, rm3=rm3):.4f}", flush=True)


if __name__ == "__main__":
    main()
