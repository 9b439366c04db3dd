"""``python -m bench write-path`` runs end to end (a smoke test: no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_write_path_compares_the_write_protocol_with_raw_add(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "write-path", "--docs", "30", "--wave", "10"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = tmp_path.glob("write-path*.json")
    rows = json.loads(result.read_text(encoding="utf-8"))["results"]
    (label,) = [k for k in rows if k.startswith("write_documents / raw add rate")]
    chunks = int(label.split(", ")[1].split()[0])
    assert chunks >= 30  # every document was written, at least one chunk each
    assert float(rows[label]) > 0
    assert float(rows["the same, all waves together"]) > 0
