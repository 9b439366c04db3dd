"""SciFact as benchmark material: abstracts (repeated with a copy marker) and queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact"


@dataclass(frozen=True)
class Abstract:
    doc_id: str
    text: str


def abstracts(folder: Path = SCIFACT) -> list[Abstract]:
    """SciFact's 5,183 abstracts, title and text as one passage."""
    with (folder / "corpus.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return [Abstract(str(r["_id"]), f"{r['title']}\n\n{r['text']}") for r in rows]


def queries(folder: Path = SCIFACT) -> list[str]:
    """The 809 train queries' texts."""
    with (folder / "queries.jsonl").open(encoding="utf-8") as lines:
        return [str(json.loads(line)["text"]) for line in lines]


def copies(base: list[Abstract], count: int) -> Iterator[Abstract]:
    """``count`` passages: the abstracts, then again with a copy marker, and so on."""
    for n in range(count):
        original = base[n % len(base)]
        copy = n // len(base)
        if copy == 0:
            yield original
        else:
            yield Abstract(f"{original.doc_id}-copy{copy}", f"{original.text}\n\n[copy {copy}]")
