"""The benchmark suite runs end to end at a tiny size (a smoke test: no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench(tmp_path: Path, *args: str) -> dict:
    command = [sys.executable, "-m", "bench", *args, "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = tmp_path.glob("*.json")
    assert result.with_suffix(".md").is_file()
    return json.loads(result.read_text(encoding="utf-8"))


@pytest.mark.timeout(600)
def test_lexical_quick_runs_the_real_commands_and_finds_the_upload(tmp_path: Path) -> None:
    record = _bench(tmp_path, "lexical", "--quick")
    results = record["results"]
    ingested = next(v for k, v in results.items() if k.startswith("`docent ingest`"))
    assert int(ingested.split()[0]) > 100  # chunks written through the real pipeline
    assert results["first hybrid search after that upload"].endswith("(found: True)")
    assert any(k.startswith("hybrid p50 / p99 / max while") for k in results)


@pytest.mark.timeout(600)
def test_engines_compares_both_engines(tmp_path: Path) -> None:
    record = _bench(tmp_path, "engines", "--size", "300", "--queries", "5")
    assert {k.split(":")[0] for k in record["results"]} == {"fts5", "tantivy"}


def test_an_unknown_benchmark_is_refused_with_the_names() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "nope"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "engines" in done.stderr
    assert "lexical" in done.stderr
