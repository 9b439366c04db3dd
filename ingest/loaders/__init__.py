"""One loader per format; :func:`load_document` picks it by file extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from ingest.loaders.base import DocumentKind, LoadedDocument, Page
from ingest.loaders.html import load_html
from ingest.loaders.pdf import load_pdf
from ingest.loaders.text import load_markdown, load_text
from ingest.results import FileFailure

__all__ = [
    "LOADERS",
    "DocumentKind",
    "LoadedDocument",
    "Page",
    "is_supported",
    "load_document",
]

LOADERS: dict[str, Callable[[bytes], LoadedDocument]] = {
    ".pdf": load_pdf,
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
}


def is_supported(name: str) -> bool:
    return PurePath(name).suffix.lower() in LOADERS


def load_document(name: str, data: bytes) -> LoadedDocument:
    """Parse ``data`` (the bytes of the file called ``name``) into page texts.

    Raises:
        FileFailure: ``unsupported_type``, ``empty``, or the loader's own reasons.
    """
    suffix = PurePath(name).suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise FileFailure(
            "unsupported_type",
            f"unsupported file type {suffix or '(no extension)'!r}; supported: {known}",
        )
    if not data.strip():
        raise FileFailure("empty", "the file is empty")
    return loader(data)
