"""What every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DocumentKind = Literal["pdf", "text", "markdown", "html", "docx", "image"]

MARKDOWN_STRUCTURED: frozenset[DocumentKind] = frozenset({"markdown", "docx"})
"""Kinds whose text marks headings the Markdown way (``#``), so chunking cuts at them."""


@dataclass(frozen=True)
class Page:
    """Text of one page; ``number`` is 1-based, 0 for formats without pages.

    ``ocr`` is True when the text was read from the page's image by OCR.
    """

    number: int
    text: str
    ocr: bool = False


@dataclass(frozen=True)
class LoadedDocument:
    kind: DocumentKind
    pages: list[Page]
    notes: list[str] = field(default_factory=list)
    """Things the user should know, e.g. how undecodable bytes were handled."""

    @property
    def markdown_headings(self) -> bool:
        """True when headings are marked the Markdown way, so chunking cuts at them."""
        return self.kind in MARKDOWN_STRUCTURED

    @property
    def ocr_pages(self) -> frozenset[int]:
        """Numbers of the pages whose text came from OCR."""
        return frozenset(page.number for page in self.pages if page.ocr)
