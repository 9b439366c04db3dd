"""Every notebook runs top to bottom against the stand-in (or OLLAMA_HOST), on small data.

Parameters are injected papermill-style after the ``parameters`` cell; the kernel
inherits ``OLLAMA_HOST`` / ``DOCENT_EMBED_MODEL`` / ``DOCENT_CHAT_MODEL`` from this
process. A probe cell appended at the end prints the notebook's results as JSON.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.notebooks.runner import (
    DATASETS,
    ROOT,
    append_probe,
    execute,
    inject_parameters,
    load,
    outputs_of_tagged,
    probe_result,
    stdout_of,
)

SAMPLE_CORPUS = ROOT / "api" / "sample_corpus"
"""The quickstart's default corpus (``CORPUS_DIR``), run as a user would first run it."""


@pytest.fixture
def notebook_env(monkeypatch, tmp_path, ollama_host, embed_model, chat_model):
    """The environment the kernel inherits: the server under test and its models."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    monkeypatch.setenv("DOCENT_EMBED_MODEL", embed_model)
    monkeypatch.setenv("DOCENT_CHAT_MODEL", chat_model)
    monkeypatch.delenv("DOCENT_CHROMA_HOST", raising=False)
    monkeypatch.delenv("DOCENT_OLLAMA_HOSTS", raising=False)
    monkeypatch.setenv("DOCENT_CHROMA_PATH", str(tmp_path / "never-used"))
    return tmp_path


def test_quickstart_ingests_searches_and_streams_a_cited_answer(notebook_env):
    nb = load("01-quickstart.ipynb")
    inject_parameters(
        nb,
        {
            "COLLECTION": "nb-quickstart",
            "QUESTION": "When is the customer support line open?",
            "K": 2,
            "NUM_PREDICT": 32,
            "SYSTEM": "Answer in one short sentence.",
            "CHROMA_PATH": str(notebook_env / "chroma"),
        },
    )
    append_probe(
        nb,
        '{"report": report.to_json(), "answer": done.answer, "found": done.found, '
        '"sources": [ref.source for ref in prepared.sources], '
        '"chunks": store.get_collection(COLLECTION).chunk_count}',
    )

    execute(nb)

    result = probe_result(nb)
    assert result["report"]["files"]["ingested"] == len(list(SAMPLE_CORPUS.iterdir()))
    assert result["report"]["files"]["failed"] == 0
    assert result["chunks"] >= result["report"]["files"]["ingested"]
    assert result["found"] is True
    assert result["answer"].strip(), "the quickstart printed an empty answer"
    assert "monday" in result["answer"].lower(), result["answer"]  # grounded in support.md
    assert result["sources"][0] == "support.md"
    streamed = "".join(o.get("text", "") for o in outputs_of_tagged(nb, "answer"))
    assert result["answer"].strip() in streamed, "the answer was not streamed to the output"
    tables = outputs_of_tagged(nb, "sources")
    assert any("support.md" in o.get("data", {}).get("text/plain", "") for o in tables)
    prompt = "".join(o.get("text", "") for o in outputs_of_tagged(nb, "prompt"))
    assert "Answer in one short sentence." in prompt, "SYSTEM did not reach the prompt"
    assert "--- system ---" in prompt
    assert (notebook_env / "chroma").is_dir(), "CHROMA_PATH was not used"
    assert not (notebook_env / "never-used").exists()
    assert "Traceback" not in stdout_of(nb)


def _has_png(outputs: list[dict[str, Any]]) -> bool:
    return any("image/png" in output.get("data", {}) for output in outputs)


def test_retrieval_evaluation_scores_three_modes_on_a_scifact_subset(notebook_env):
    nb = load("02-retrieval-evaluation.ipynb")
    inject_parameters(
        nb,
        {
            "DATASET_DIR": str(DATASETS / "scifact"),
            "LIMIT_QUERIES": 40,
            "LIMIT_CORPUS": 150,
            "COLLECTION": "nb-scifact",
            "CHROMA_PATH": str(notebook_env / "chroma"),
        },
    )
    append_probe(
        nb,
        '{"metrics": report.metrics(), "documents": report.documents, '
        '"queries": report.queries, "ingest": report.ingest.to_json()["files"]}',
    )

    execute(nb)

    result = probe_result(nb)
    assert result["queries"] == 40
    assert 100 <= result["documents"] <= 150
    assert result["ingest"]["failed"] == 0
    assert result["ingest"]["ingested"] == result["documents"]
    metrics = result["metrics"]
    assert sorted(metrics) == ["dense", "hybrid", "lexical"]
    for mode, values in metrics.items():
        assert 0.0 <= values["ndcg@10"] <= 1.0
        assert 0.0 <= values["recall@10"] <= 1.0
        # A small corpus that holds every judged document: any working mode ranks them high.
        assert values["ndcg@10"] > 0.5, f"{mode}: nDCG@10 {values['ndcg@10']:.3f}"
    table = "".join(o.get("data", {}).get("text/plain", "") for o in outputs_of_tagged(nb, "table"))
    for mode in ("dense", "lexical", "hybrid"):
        assert mode in table
    assert f"{metrics['dense']['ndcg@10']:.3f}" in table
    assert _has_png(outputs_of_tagged(nb, "plot")), "no plot was drawn"


def test_chunking_sweep_compares_quality_and_index_size(notebook_env):
    nb = load("03-chunking.ipynb")
    inject_parameters(
        nb,
        {
            "DATASET_DIR": str(DATASETS / "scifact"),
            "LIMIT_QUERIES": 20,
            "LIMIT_CORPUS": 50,
            "CHUNKINGS": [(64, 16), (256, 0)],
            "MODES": ["dense", "hybrid"],
            "CHROMA_PATH": str(notebook_env / "chroma"),
        },
    )
    append_probe(
        nb,
        '[{"setting": r["setting"], "effective": [r["plan"].size, r["plan"].overlap], '
        '"chunks": r["chunks"], "disk_mb": r["disk_mb"], "metrics": r["metrics"]} for r in runs]',
    )

    execute(nb)

    runs = probe_result(nb)
    assert [run["setting"] for run in runs] == ["64/16", "256/0"]
    small, large = runs
    assert small["effective"] == [64, 16]
    assert large["effective"][0] < 256, "the size was not capped to all-minilm's context"
    assert small["chunks"] > large["chunks"] > 0, "smaller chunks should make more of them"
    for run in runs:
        assert sorted(run["metrics"]) == ["dense", "hybrid"]
        assert all(0.0 <= m["ndcg@10"] <= 1.0 for m in run["metrics"].values())
        assert run["disk_mb"] > 0
    assert sorted(p.name for p in (notebook_env / "chroma").iterdir()) == [
        "size256-overlap0",
        "size64-overlap16",
    ]
    table = "".join(o.get("data", {}).get("text/plain", "") for o in outputs_of_tagged(nb, "table"))
    assert str(small["chunks"]) in table
    assert _has_png(outputs_of_tagged(nb, "plot")), "no plot was drawn"
