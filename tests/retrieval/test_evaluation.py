"""BEIR loading, limiting, document-level runs and metrics checked on a hand-worked case."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from retrieval.errors import InvalidRequest
from retrieval.evaluation import document_scores, limit, load_beir, score, source_for
from retrieval.types import Hit
from tests.datasets import dataset

SCIFACT = dataset("scifact")


def _ranked(*doc_ids: str) -> dict[str, float]:
    return {d: 1.0 / rank for rank, d in enumerate(doc_ids, start=1)}


def test_metrics_on_a_hand_worked_case():
    qrels = {"q1": {"d1": 1, "d2": 1}, "q2": {"d3": 2}}
    fillers = [f"f{i}" for i in range(3, 12)]
    run = {"q1": _ranked("d9", "d1", *fillers, "d2"), "q2": _ranked("x", "y", "d3")}
    # q1: d1 at rank 2, d2 at rank 12 (outside @10). q2: d3 (gain 2) at rank 3.
    ndcg_q1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_q2 = (2 / math.log2(4)) / (2 / math.log2(2))
    metrics = score(qrels, run)
    assert metrics["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)  # 0.4434
    assert metrics["recall@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["recall@100"] == pytest.approx(1.0)
    assert metrics["mrr@10"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_cut_off_k():
    metrics = score({"q1": {"d1": 1}}, {"q1": _ranked("x", "y", "d1")}, k=2)
    assert metrics == {"ndcg@2": 0.0, "recall@2": 0.0, "recall@100": 1.0, "mrr@2": 0.0}


def test_a_query_with_no_results_counts_as_zero():
    metrics = score({"q1": {"d1": 1}, "q2": {"d2": 1}}, {"q1": {"d1": 1.0}})
    assert metrics["ndcg@10"] == pytest.approx(0.5)


def test_document_scores_keep_each_documents_best_chunk():
    hits = [Hit(f"c{i}", "", 1.0, {"source": source_for(d)}) for i, d in enumerate("abacb")]
    assert document_scores(hits) == {"a": 1.0, "b": 0.5, "c": 1 / 3}
    assert list(document_scores(hits, depth=2)) == ["a", "b"]


def _write_beir(tmp_path: Path) -> tuple[Path, Path, Path]:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"}) for i in range(10)
        )
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) for i in range(4))
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq0\td7\t1\nq1\td9\t1\nq2\td1\t1\n")
    return corpus, queries, qrels


def test_load_and_limit_keep_judged_documents(tmp_path):
    data = load_beir(*_write_beir(tmp_path))
    assert list(data.queries) == ["q0", "q1", "q2"]  # q3 has no judgments
    assert data.corpus["d3"].content == "T3\n\ntext 3"
    small = limit(data, queries=2, corpus=3)
    assert list(small.queries) == ["q0", "q1"]
    assert set(small.corpus) == {"d0", "d7", "d9"}
    assert small.qrels == {"q0": {"d7": 1}, "q1": {"d9": 1}}


def test_malformed_files_name_the_line(tmp_path):
    corpus, queries, qrels = _write_beir(tmp_path)
    bad_qrels = tmp_path / "bad.tsv"
    bad_qrels.write_text("query-id\tcorpus-id\tscore\nq0\td7\n")
    with pytest.raises(InvalidRequest, match="on line 2 of"):
        load_beir(corpus, queries, bad_qrels)
    corpus.write_text('{"_id": "d0", "text": "x"}\nnot json\n')
    with pytest.raises(InvalidRequest, match="invalid JSON on line 2"):
        load_beir(corpus, queries, qrels)
    corpus.write_text('{"_id": "d0"}\n')
    with pytest.raises(InvalidRequest, match="missing text"):
        load_beir(corpus, queries, qrels)
    with pytest.raises(InvalidRequest, match="Cannot read"):
        load_beir(corpus, queries, tmp_path / "missing.tsv")


def test_scifact_train_split_loads():
    data = load_beir(
        SCIFACT / "corpus.jsonl", SCIFACT / "queries.jsonl", SCIFACT / "qrels/train.tsv"
    )
    assert len(data.corpus) == 5183
    assert len(data.queries) == 809
    assert sum(len(j) for j in data.qrels.values()) == 919
