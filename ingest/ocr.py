"""OCR of page images, for scanned PDF pages and image files (the optional ``ocr`` extra).

The engine is RapidOCR (PP-OCR models on onnxruntime; the models ship in its wheel, so it
works offline). PDF pages are rendered with pypdfium2. Both are imported only when a page
needs OCR, in the reader's worker process, where the file's time and memory limits hold;
without them installed, :func:`ocr_status` says so and pages without text stay ``no_text``.

Page orientation: when most text boxes are taller than wide the page lies sideways and
is read again turned by 90° one way (then the other, if that reads badly); a page whose
reading has a low mean confidence is read again turned by 180°; the most confident
reading wins.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import math
import time
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

    from retrieval.settings import IngestSettings

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[ocr]"  (or: bash scripts/setup.sh)'
"""How to enable OCR, quoted in ``no_text`` messages and by ``docent doctor``."""
REQUIRED_MODULES = ("rapidocr", "onnxruntime", "pypdfium2", "PIL")
GOOD_READING = 0.85
"""Mean recognition confidence above which a page's first reading is kept as is."""
RENDER_DPI = 200
MAX_RENDER_SIDE = 2000
"""Pixels of a rendered page's longest side at most (RapidOCR scales larger images down)."""
TIME_SHARE = 0.75
"""Share of the file's time limit after which OCR starts no new page."""
GARBLED_SHARE = 0.3
"""A text layer with more than this share of unreadable characters is treated as garbage."""


@dataclass(frozen=True)
class OcrOptions:
    """How the reader may use OCR for one file.

    ``time_budget_seconds`` keeps OCR within the file's time limit: no new page is
    started after it. The reader sets it from its own limit when it is None.
    """

    enabled: bool = True
    max_pages: int = 30
    time_budget_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> OcrOptions:
        return cls(
            enabled=settings.ocr,
            max_pages=settings.ocr_max_pages,
            time_budget_seconds=settings.file_timeout_seconds * TIME_SHARE,
        )


@dataclass(frozen=True)
class OcrStatus:
    """Can this machine OCR? ``detail`` names the engine, or what is missing."""

    available: bool
    detail: str
    fix: str | None = None


@lru_cache(maxsize=1)
def ocr_status() -> OcrStatus:
    """Whether the OCR extra is installed (without loading any model)."""
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return OcrStatus(
            False,
            f"not installed (missing: {', '.join(missing)}); scanned pages and images "
            "end as no_text",
            INSTALL_HINT,
        )
    versions = {
        dist: importlib.metadata.version(dist) for dist in ("rapidocr", "onnxruntime", "pypdfium2")
    }
    return OcrStatus(True, ", ".join(f"{name} {version}" for name, version in versions.items()))


def why_no_ocr(options: OcrOptions) -> str | None:
    """Why OCR cannot be used for a file, phrased for a message; None when it can."""
    if not options.enabled:
        return "OCR is off (DOCENT_OCR=false)"
    if not ocr_status().available:
        return f"OCR is not installed: {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class Reading:
    """The text OCR found on one image, lines in reading order, and its mean confidence."""

    text: str
    confidence: float
    turned: int = 0
    """Degrees the image was turned (counter-clockwise) to read it."""
    tall_share: float = 0.0
    """Share of the text boxes that are taller than wide (a page lying sideways)."""


@dataclass
class PageBudget:
    """OCR pages left for one file: a page count and a deadline."""

    max_pages: int
    deadline: float | None
    used: int = 0
    skipped: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, options: OcrOptions) -> PageBudget:
        seconds = options.time_budget_seconds
        return cls(options.max_pages, None if seconds is None else time.monotonic() + seconds)

    def take(self, page: int) -> bool:
        """Spend one page of the budget on ``page``; False (and noted) when none is left."""
        if self.used >= self.max_pages or (
            self.deadline is not None and time.monotonic() > self.deadline
        ):
            self.skipped.append(page)
            return False
        self.used += 1
        return True

    def note(self) -> str | None:
        """What the budget left out, for the file's notes."""
        if not self.skipped:
            return None
        return (
            f"OCR budget spent after {self.used} page(s) (DOCENT_OCR_MAX_PAGES="
            f"{self.max_pages}, or 3/4 of DOCENT_INGEST_FILE_TIMEOUT_SECONDS): "
            f"{len(self.skipped)} page(s) without a text layer not read: "
            f"{page_list(self.skipped)}"
        )


def page_list(pages: list[int], limit: int = 10) -> str:
    """``1, 2, 3 and 4 more``."""
    shown = ", ".join(str(p) for p in pages[:limit])
    return shown + (f" and {len(pages) - limit} more" if len(pages) > limit else "")


def looks_garbled(text: str) -> bool:
    """True when a text layer is mostly unreadable.

    Unreadable: control, private-use, unassigned or replacement characters, as broken
    font encodings produce.
    """
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return False
    bad = sum(
        1 for c in visible if c == "\ufffd" or unicodedata.category(c) in ("Cc", "Co", "Cn", "Cs")
    )
    return bad / len(visible) > GARBLED_SHARE


class OcrEngine:
    """RapidOCR, loaded once per process (about 0.7 s and 850 MB)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._ocr = RapidOCR(
            params={
                "Global.log_level": "error",
                # one thread per reader process: the reader pool is the parallelism
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                # detect text on the page scaled to 1280 px at most: 1.3x faster than the
                # default (no scaling down) at equal word recall on 6-point text at 200 dpi
                "Det.limit_type": "max",
                "Det.limit_side_len": 1280,
            }
        )

    def _read_once(self, image: Image) -> Reading:
        from rapidocr.utils.output import RapidOCROutput

        out = self._ocr(image, use_det=True, use_cls=False, use_rec=True)
        if not isinstance(out, RapidOCROutput) or out.boxes is None or not out.txts:
            return Reading("", 0.0)
        scores = list(out.scores or ())
        weights = [max(1, len(t)) for t in out.txts]
        confidence = sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)
        tall = sum(1 for box in out.boxes if _is_tall(box)) / len(out.boxes)
        return Reading(_lines(out.boxes, list(out.txts)), confidence, tall_share=tall)

    def read(self, image: Image) -> Reading:
        """The text on ``image`` (any orientation), lines in reading order."""
        rgb = image.convert("RGB")
        first = self._read_once(rgb)
        if not first.text:
            return first
        sideways = first.tall_share > 0.5
        if not sideways and first.confidence >= GOOD_READING:
            return first
        readings = [first]
        for angle in (270, 90) if sideways else (180,):
            turned = self._read_once(rgb.rotate(angle, expand=True))
            turned = Reading(turned.text, turned.confidence, angle, turned.tall_share)
            if turned.confidence >= GOOD_READING and turned.tall_share <= 0.5:
                return turned  # upright and well read: lines come in reading order
            readings.append(turned)
        return max(readings, key=lambda reading: reading.confidence)


def _is_tall(box: Any) -> bool:
    """Is a detected text box (four corner points) taller than wide?"""
    (x0, y0), (x1, y1), _, (x3, y3) = ((float(x), float(y)) for x, y in box)
    return math.hypot(x3 - x0, y3 - y0) > math.hypot(x1 - x0, y1 - y0)


def _lines(boxes: Any, texts: list[str]) -> str:
    """The recognised boxes as text.

    Boxes on one line are joined with spaces, lines with newlines, and lines far apart
    with a blank line (a paragraph break, which chunking prefers to cut at).
    """
    rows: list[tuple[float, float, float, list[tuple[float, str]]]] = []
    for box, text in zip(boxes, texts, strict=True):
        ys = [float(point[1]) for point in box]
        top, bottom, left = min(ys), max(ys), float(min(point[0] for point in box))
        centre = (top + bottom) / 2
        if rows and abs(rows[-1][0] - centre) < (bottom - top) / 2:
            rows[-1][3].append((left, text))
            continue
        rows.append((centre, top, bottom, [(left, text)]))
    out: list[str] = []
    previous_bottom: float | None = None
    previous_height = 0.0
    for _, top, bottom, parts in rows:
        line = " ".join(text for _, text in sorted(parts))
        if previous_bottom is not None:
            gap = top - previous_bottom
            out.append("\n\n" if gap > max(previous_height, bottom - top) else "\n")
        out.append(line)
        previous_bottom, previous_height = bottom, bottom - top
    return "".join(out).strip()


OUT_OF_MEMORY_SIGNS = ("bad_alloc", "failed to map segment", "cannot allocate memory")
"""How running out of the reader's address space shows besides ``MemoryError``: a C++
allocation, or a native library (onnxruntime) that the loader cannot map while the
engine is imported, which Python raises as ``ImportError``."""


def failure_reason(exc: BaseException) -> str:
    """Why OCR failed, for a note: running out of the reader's memory is the usual case."""
    message = str(exc).lower()
    if isinstance(exc, MemoryError) or any(sign in message for sign in OUT_OF_MEMORY_SIGNS):
        return "needs more memory than DOCENT_INGEST_FILE_MEMORY_MB allows (1536 or more)"
    return type(exc).__name__


@lru_cache(maxsize=1)
def engine() -> OcrEngine:
    """This process's engine (built on first use)."""
    return OcrEngine()


def render_page(pdf: Any, index: int) -> Image:
    """Render page ``index`` (0-based) of a ``pypdfium2.PdfDocument`` to a PIL image."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE / max(width, height, 1.0))
        bitmap = page.render(scale=scale)
        image: Image = bitmap.to_pil()
        return image
    finally:
        page.close()
