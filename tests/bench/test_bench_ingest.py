"""``python -m bench ingest --quick`` runs end to end (a smoke test: no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_ingest_quick_measures_docent_against_raw_chroma_and_raw_embed(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "ingest", "--quick", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = tmp_path.glob("ingest-*.json")
    assert result.with_suffix(".md").read_text(encoding="utf-8").count("| ") > 5
    rows = json.loads(result.read_text(encoding="utf-8"))["results"]

    def value(prefix: str) -> str:
        return str(next(v for k, v in rows.items() if k.startswith(prefix)))

    chunks = int(value("first ingest, 200 docs").split("(")[1].split()[0])
    assert chunks >= 200  # every abstract gave at least one chunk, through the real CLI
    assert float(value("Docent / raw Chroma add rate")) > 0
    assert float(value("unchanged re-ingest")) > 0
    assert float(value("Docent / best raw")) > 0
    assert value("re-ingest after changing 2 docs")
    # the tutorial ran as its own program (the bench extra is installed by scripts/setup.sh)
    tutorial_chunks = int(value("LangChain tutorial as a command").split("(")[1].split()[0])
    assert tutorial_chunks >= 20
    assert float(value("Docent speed / tutorial speed, both commands")) > 0
    assert float(value("the tutorial's pipeline alone")) > 0
