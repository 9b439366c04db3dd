"""PDF: text per page with pypdf (1-based page numbers), OCR for pages without a usable one.

A page whose text layer is empty or garbled is rendered (pypdfium2) and read by OCR
(:mod:`ingest.ocr`) when the ``ocr`` extra is installed and ``DOCENT_OCR`` is on, within
the file's OCR page budget; pages left out are named in the document's notes.
"""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from ingest.loaders.base import LoadedDocument, Page
from ingest.ocr import (
    OcrOptions,
    PageBudget,
    engine,
    failure_reason,
    looks_garbled,
    page_list,
    render_page,
    why_no_ocr,
)
from ingest.results import FileFailure

log = logging.getLogger(__name__)

_MAX_REASON = 160


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def no_text_message(options: OcrOptions, notes: list[str] | None = None, *, read: int = 1) -> str:
    """The ``no_text`` message of a PDF none of whose pages has text.

    Args:
        options: the OCR options the file was read with (say why OCR did not run).
        notes: what OCR reported (budget spent, failed pages), appended.
        read: pages OCR read (found text or not).
    """
    why = why_no_ocr(options)
    if why is not None:
        message = f"no text layer (scanned?); {why}"
    elif read:
        message = "no text layer, and OCR found no text (pictures only?)"
    else:
        message = "no text layer (scanned?), and no page was read by OCR"
    return "; ".join([message, *(notes or [])])


def load_pdf(data: bytes, ocr: OcrOptions | None = None) -> LoadedDocument:
    """Extract the text layer of every page; OCR pages without a usable one.

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
    options = ocr or OcrOptions()
    pages, read = _ocr_fallback(data, pages, options, notes)
    failed_pages = [n for n in failed_pages if not pages[n - 1].ocr]
    if failed_pages:
        notes.append(f"text of page(s) {failed_pages[:10]} could not be extracted")
    if not any(p.text.strip() for p in pages):
        if failed_pages:
            raise FileFailure("malformed", "cannot be parsed: no page text could be extracted")
        raise FileFailure("no_text", no_text_message(options, notes, read=read))
    return LoadedDocument(kind="pdf", pages=pages, notes=notes)


def _ocr_fallback(
    data: bytes, pages: list[Page], options: OcrOptions, notes: list[str]
) -> tuple[list[Page], int]:
    """Read the empty or garbled pages by OCR where it can run.

    Returns:
        The pages (those OCR read replaced) and the number of pages OCR read without
        failing.
    """
    wanted = [p.number for p in pages if not p.text.strip() or looks_garbled(p.text)]
    if not wanted:
        return pages, 0
    why = why_no_ocr(options)
    if why is not None:
        if any(p.text.strip() for p in pages):  # else the file is no_text, which says why
            notes.append(f"{len(wanted)} page(s) without usable text not read: {why}")
        return pages, 0
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        notes.append(f"OCR skipped: the PDF could not be rendered ({_short(exc)})")
        return pages, 0
    budget = PageBudget.start(options)
    read = list(pages)
    failed: list[int] = []
    reason = ""
    try:
        for number in wanted:
            if number > len(pdf) or not budget.take(number):
                continue
            try:
                reading = engine().read(render_page(pdf, number - 1))
            except Exception as exc:
                log.warning("event=ocr_page_failed page=%d error=%s", number, type(exc).__name__)
                failed.append(number)
                reason = failure_reason(exc)
                continue
            if reading.text:
                read[number - 1] = Page(number, reading.text, ocr=True)
    finally:
        pdf.close()
    if failed:
        notes.append(f"OCR failed on page(s) {page_list(failed)}: {reason}")
    skipped = budget.note()
    if skipped:
        notes.append(skipped)
    return read, budget.used - len(failed)
