"""One loader per format; :func:`load_document` picks it by file extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from ingest.loaders.base import DocumentKind, LoadedDocument, Page
from ingest.loaders.docx import load_docx
from ingest.loaders.html import load_html
from ingest.loaders.image import load_image
from ingest.loaders.pdf import load_pdf
from ingest.loaders.text import load_markdown, load_text
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


def _without_ocr(load: Callable[[bytes], LoadedDocument]) -> Loader:
    """A loader of a format that never needs OCR."""
    return lambda data, _ocr: load(data)


LOADERS: dict[str, Loader] = {
    ".pdf": load_pdf,
    ".txt": _without_ocr(load_text),
    ".text": _without_ocr(load_text),
    ".md": _without_ocr(load_markdown),
    ".markdown": _without_ocr(load_markdown),
    ".html": _without_ocr(load_html),
    ".htm": _without_ocr(load_html),
    ".docx": _without_ocr(load_docx),
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
}


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
    loader = LOADERS.get(suffix)
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise FileFailure(
            "unsupported_type",
            f"unsupported file type {suffix or '(no extension)'!r}; supported: {known}",
        )
    if not data.strip():
        raise FileFailure("empty", "the file is empty")
    return loader(data, ocr or OcrOptions())
