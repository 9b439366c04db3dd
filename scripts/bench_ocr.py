"""Benchmark OCR: word recall and seconds per page, and the PDF folder with and without.

``pages``: scanned PDFs generated from known text (Pillow's bundled font at three sizes,
200 dpi Letter pages, upright and turned) read by Docent's PDF loader (RapidOCR); with
``--tesseract`` the same rendered pages also go through Tesseract (pytesseract and the
``tesseract`` binary must be installed by hand: they are not project dependencies).

``folder``: ``../shared/datasets/pdfs`` (153 PDFs) through the real pipeline (isolated
readers, 2 workers, embedded-in-memory Chroma) with a fake hash embedder, so that only
reading is measured; once with OCR off, once on.

Usage: ``.venv/bin/python scripts/bench_ocr.py pages [--tesseract]`` /
``.venv/bin/python scripts/bench_ocr.py folder``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.loaders.pdf import load_pdf  # noqa: E402
from ingest.ocr import OcrOptions, engine  # noqa: E402
from tests.ingest.ocr_fixtures import (  # noqa: E402
    AUDIT,
    BILLING,
    PUMP,
    PdfPage,
    make_pdf,
    render_page,
    word_recall,
)

PDFS = REPO.parent / "shared" / "datasets" / "pdfs"
TEXT = "\n\n".join([AUDIT, PUMP, BILLING])


def bench_pages(tesseract: bool) -> None:
    engine()  # load the models before timing
    print("engine     font_px  turned  recall  s/page  cpu-s/page")
    for font_px in (18, 24, 30):
        for angle in (0, 90, 180):
            image = render_page(TEXT, font_px=font_px)
            if angle:
                image = image.rotate(angle, expand=True, fillcolor=255)
            pdf = make_pdf([PdfPage(image=image)])
            started, cpu = time.perf_counter(), time.process_time()
            document = load_pdf(pdf, OcrOptions())
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            recall = word_recall(TEXT, document.pages[0].text)
            print(
                f"rapidocr   {font_px:7d}  {angle:6d}  {recall:6.3f}  {seconds:6.2f}  {cpu:10.2f}"
            )
            if tesseract and angle == 0:
                _tesseract_row(pdf, font_px)


def _tesseract_row(pdf: bytes, font_px: int) -> None:
    import pypdfium2
    import pytesseract

    from ingest.ocr import render_page as render

    document = pypdfium2.PdfDocument(pdf)
    image = render(document, 0)
    started, cpu = time.perf_counter(), _children_cpu()
    text = pytesseract.image_to_string(image)
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    recall = word_recall(TEXT, text)
    print(f"tesseract  {font_px:7d}  {0:6d}  {recall:6.3f}  {seconds:6.2f}  {cpu:10.2f}")


def _children_cpu() -> float:
    """CPU seconds of finished child processes (the tesseract binary)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_folder() -> None:
    from ingest.isolation import IsolatedReader
    from ingest.pipeline import Ingestor
    from ingest.sources import discover
    from retrieval.settings import Settings
    from retrieval.store import ChunkStore
    from tests.fakes import FakeEmbedder

    for enabled in (False, True):
        reader = IsolatedReader(2, 60, 2048, ocr=OcrOptions(enabled=enabled))
        store = ChunkStore.ephemeral()
        ingestor = Ingestor(
            store, FakeEmbedder(dimension=16, batch_size=64), Settings(), reader=reader
        )
        started = time.perf_counter()
        try:
            report = asyncio.run(
                ingestor.ingest(discover([PDFS], glob="**/*.pdf"), collection="pdfs")
            )
        finally:
            ingestor.close()
        seconds = time.perf_counter() - started
        ocr_chunks = [c for c in store.iter_chunks("pdfs") if c.metadata.get("ocr")]
        ocr_pages = {(c.metadata["source"], c.metadata["page"]) for c in ocr_chunks}
        reasons = [r.reason for r in report.results if r.reason]
        print(
            f"OCR {'on ' if enabled else 'off'}: {seconds:6.1f} s, ingested "
            f"{report.count('ingested')}, no_text {reasons.count('no_text')}, malformed "
            f"{reasons.count('malformed')}, pages read by OCR {len(ocr_pages)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["pages", "folder"])
    parser.add_argument("--tesseract", action="store_true", help="also measure Tesseract")
    args = parser.parse_args()
    if args.what == "pages":
        bench_pages(args.tesseract)
    else:
        bench_folder()


if __name__ == "__main__":
    main()
