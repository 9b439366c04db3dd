"""``docent eval retrieval`` on a small SciFact subset, through the real ingestion pipeline
and the real embedding model."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from api.cli.evaluate import eval_retrieval_command
from retrieval.settings import get_settings
from tests.datasets import dataset

SCIFACT = dataset("scifact")


@pytest.fixture
def cli(ollama_host, embed_model, tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    monkeypatch.setenv("DOCENT_EMBED_MODEL", embed_model)
    monkeypatch.setenv("DOCENT_CHROMA_PATH", str(tmp_path / "chroma"))
    get_settings.cache_clear()
    app = typer.Typer()
    app.command()(eval_retrieval_command)
    yield lambda *args: CliRunner().invoke(
        app,
        [
            "--corpus",
            str(SCIFACT / "corpus.jsonl"),
            "--queries",
            str(SCIFACT / "queries.jsonl"),
            "--qrels",
            str(SCIFACT / "qrels" / "train.tsv"),
            *args,
        ],
    )
    get_settings.cache_clear()


@pytest.mark.slow
def test_eval_prints_metrics_per_mode(cli):
    result = cli("--limit-queries", "8", "--limit-corpus", "30", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"dense", "lexical", "hybrid"}
    for mode, values in metrics.items():
        assert set(values) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert all(0.0 <= v <= 1.0 for v in values.values())
        if mode != "lexical":  # BM25 leaves out documents sharing no term with the query
            assert values["recall@100"] == 1.0, mode  # 30 documents: all of them are ranked
        assert values["ndcg@10"] > 0.5, mode
    # a second run reuses the collection (nothing re-embedded) and prints a table
    table = cli("--limit-queries", "8", "--limit-corpus", "30", "--mode", "lexical")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split()[:2] == ["mode", "ndcg@10"]
    assert table.stdout.splitlines()[1].startswith("lexical")


def test_eval_rejects_a_bad_mode(cli):
    result = cli("--mode", "fuzzy")
    assert result.exit_code == 2
    assert "Expected --mode to be one of dense, lexical, hybrid, got 'fuzzy'." in result.stderr
