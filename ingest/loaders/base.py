"""What every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DocumentKind = Literal["pdf", "text", "markdown", "html"]


@dataclass(frozen=True)
class Page:
    """Text of one page; ``number`` is 1-based, 0 for formats without pages."""

    number: int
    text: str


@dataclass(frozen=True)
class LoadedDocument:
    kind: DocumentKind
    pages: list[Page]
    notes: list[str] = field(default_factory=list)
    """Things the user should know, e.g. how undecodable bytes were handled."""
