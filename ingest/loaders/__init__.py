"""One loader per format; :func:`load_document` picks it by file extension."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import PurePath
from typing import cast

from ingest.loaders.base import DocumentKind, LoadedDocument, Page
from ingest.ocr import OcrOptions
from ingest.results import FileFailure

__all__ = [
    "LOADERS",
    "DocumentKind",
    "LoadedDocument",
    "Page",
    "is_supported",
    "load_document",
]

Loader = Callable[[bytes, OcrOptions], LoadedDocument]

LOADERS: dict[str, tuple[str, str, bool]] = {
    ".pdf": ("pdf", "load_pdf", True),
    ".txt": ("text", "load_text", False),
    ".text": ("text", "load_text", False),
    ".md": ("text", "load_markdown", False),
    ".markdown": ("text", "load_markdown", False),
    ".html": ("html", "load_html", False),
    ".htm": ("html", "load_html", False),
    ".docx": ("docx", "load_docx", False),
    ".png": ("image", "load_image", True),
    ".jpg": ("image", "load_image", True),
    ".jpeg": ("image", "load_image", True),
    ".tif": ("image", "load_image", True),
    ".tiff": ("image", "load_image", True),
}
"""Extension -> (module of ``ingest.loaders``, its function, whether it takes OCR options).

Modules are imported when a file of their type is first read: the format libraries
(pypdf, python-docx, selectolax, OCR) cost more start-up than an unchanged re-ingest
needs, and most runs meet one or two formats."""


def _loader(suffix: str) -> Loader | None:
    """The loader of files ending in ``suffix``, imported now (None: unsupported)."""
    entry = LOADERS.get(suffix)
    if entry is None:
        return None
    module, name, takes_ocr = entry
    load = getattr(importlib.import_module(f"ingest.loaders.{module}"), name)
    if takes_ocr:
        return cast(Loader, load)
    return lambda data, _ocr: cast(Callable[[bytes], LoadedDocument], load)(data)


def is_supported(name: str) -> bool:
    return PurePath(name).suffix.lower() in LOADERS


def load_document(name: str, data: bytes, ocr: OcrOptions | None = None) -> LoadedDocument:
    """Parse ``data`` (the bytes of the file called ``name``) into page texts.

    Args:
        name: the file's name; its extension picks the loader.
        data: the file's bytes.
        ocr: whether and how much OCR may read pages without text (default: on).

    Raises:
        FileFailure: ``unsupported_type``, ``empty``, or the loader's own reasons.
    """
    suffix = PurePath(name).suffix.lower()
    loader = _loader(suffix)
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise FileFailure(
            "unsupported_type",
            f"unsupported file type {suffix or '(no extension)'!r}; supported: {known}",
        )
    if not data.strip():
        raise FileFailure("empty", "the file is empty")
    return loader(data, ocr or OcrOptions())
