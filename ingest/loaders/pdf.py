"""PDF: text per page with pypdf (1-based page numbers)."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from ingest.loaders.base import LoadedDocument, Page
from ingest.results import FileFailure

_MAX_REASON = 160


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def load_pdf(data: bytes) -> LoadedDocument:
    """Extract the text layer of every page.

    Raises:
        FileFailure: ``encrypted`` (a password is needed; an empty password is tried),
            ``no_text`` (no text layer, e.g. scanned), ``malformed`` (cannot be parsed).
    """
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:1024].count(b"%PDF"):
        raise FileFailure("malformed", "cannot be parsed: not a PDF (no %PDF header)")
    notes: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise
            except (NotImplementedError, FileNotDecryptedError, PdfReadError) as exc:
                raise FileFailure(
                    "encrypted", f"encrypted: cannot be opened ({_short(exc)})"
                ) from exc
            if not opened:
                raise FileFailure("encrypted", "encrypted: password required")
        pages: list[Page] = []
        failed_pages: list[int] = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                text = page.extract_text() or ""
            except FileFailure:
                raise
            except Exception:
                failed_pages.append(number)
                text = ""
            pages.append(Page(number, text.replace("\x00", "")))
    except FileFailure:
        raise
    except DependencyError as exc:
        raise FileFailure(
            "encrypted",
            "encrypted with AES, which needs the `cryptography` package "
            "(pip install 'pypdf[crypto]') to be opened",
        ) from exc
    except FileNotDecryptedError as exc:
        raise FileFailure("encrypted", "encrypted: password required") from exc
    except MemoryError as exc:
        raise FileFailure("too_large", "too large to parse within the memory limit") from exc
    except RecursionError as exc:
        raise FileFailure("malformed", "cannot be parsed: structure nested too deeply") from exc
    except Exception as exc:
        raise FileFailure("malformed", f"cannot be parsed: {_short(exc)}") from exc
    if not pages:
        raise FileFailure("malformed", "cannot be parsed: the PDF has no pages")
    if failed_pages:
        notes.append(f"text of page(s) {failed_pages[:10]} could not be extracted")
    if not any(p.text.strip() for p in pages):
        if failed_pages:
            raise FileFailure("malformed", "cannot be parsed: no page text could be extracted")
        raise FileFailure("no_text", "no text layer (scanned?); OCR is not supported")
    return LoadedDocument(kind="pdf", pages=pages, notes=notes)
