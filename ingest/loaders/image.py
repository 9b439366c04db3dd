"""Images (PNG, JPEG, TIFF) as documents: their text, read by OCR; a TIFF frame is a page."""

from __future__ import annotations

import io
import logging

from ingest.loaders.base import LoadedDocument, Page
from ingest.ocr import (
    MAX_RENDER_SIDE,
    OcrOptions,
    PageBudget,
    engine,
    failure_reason,
    why_no_ocr,
)
from ingest.results import FileFailure

log = logging.getLogger(__name__)

MAX_PIXELS = 89_000_000
"""Larger images are refused before they are decoded (decompression bombs; just under
Pillow's own warning threshold)."""


def load_image(data: bytes, ocr: OcrOptions | None = None) -> LoadedDocument:
    """Read the text of every frame of an image with OCR (pages are 1-based frames).

    Raises:
        FileFailure: ``no_text`` (OCR off, not installed, or no text found),
            ``malformed`` (not a readable image), ``too_large`` (too many pixels).
    """
    options = ocr or OcrOptions()
    why = why_no_ocr(options)
    if why is not None:
        raise FileFailure("no_text", f"an image: its text can only be read by OCR; {why}")
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise FileFailure("malformed", "cannot be parsed: not a readable image") from exc
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise FileFailure(
            "too_large", f"{width}x{height} pixels: more than {MAX_PIXELS:,} to decode"
        )
    budget = PageBudget.start(options)
    pages: list[Page] = []
    notes: list[str] = []
    try:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if not budget.take(number):
                continue
            upright = ImageOps.exif_transpose(frame).convert("RGB")
            upright.thumbnail((MAX_RENDER_SIDE, MAX_RENDER_SIDE))
            try:
                text = engine().read(upright).text
            except Exception as exc:
                log.warning("event=ocr_image_failed frame=%d error=%s", number, type(exc).__name__)
                raise FileFailure("no_text", f"OCR failed: {failure_reason(exc)}") from exc
            if text:
                pages.append(Page(number, text, ocr=True))
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt image data
        if not pages:
            raise FileFailure("malformed", f"cannot be parsed: {type(exc).__name__}") from exc
        notes.append(f"image data broken after frame {len(pages)}; the rest was not read")
    skipped = budget.note()
    if skipped:
        notes.append(skipped.replace("without a text layer ", ""))
    if not pages:
        raise FileFailure("no_text", "an image in which OCR found no text")
    return LoadedDocument(kind="image", pages=pages, notes=notes)
