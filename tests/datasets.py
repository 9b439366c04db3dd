"""The one way tests find the shared data sets (``../shared/datasets``, beside the repo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stores import Doc

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
"""SciFact, XQuAD, the PDFs and the recorded requests (see its README)."""


def dataset(*parts: str) -> Path:
    """The path of a shared data set (or a file in one); fails the test when it is missing."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared data sets belong in {DATASETS}")
    return path


def xquad(
    language: str, *, articles: int | None = None, per_paragraph: int = 1
) -> tuple[list[Doc], list[tuple[str, str]]]:
    """XQuAD paragraphs as docs (source ``a<article>p<paragraph>``) and (question, gold
    source) pairs: the first ``per_paragraph`` questions of each paragraph of the first
    ``articles`` articles (all when None)."""
    path = dataset("xquad", f"xquad.{language}.dev.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    docs: list[Doc] = []
    questions: list[tuple[str, str]] = []
    for a, article in enumerate(data["data"][:articles]):
        for p, paragraph in enumerate(article["paragraphs"]):
            source = f"a{a}p{p}"
            docs.append(Doc(source, paragraph["context"]))
            questions += [(qa["question"], source) for qa in paragraph["qas"][:per_paragraph]]
    return docs, questions
