"""The one way tests find the shared data sets (``../shared/datasets``, beside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
"""SciFact, XQuAD, the PDFs and the recorded requests (see its README)."""


def dataset(*parts: str) -> Path:
    """The path of a shared data set (or a file in one); fails the test when it is missing."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared data sets belong in {DATASETS}")
    return path
