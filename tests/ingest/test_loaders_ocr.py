"""OCR of scanned PDF pages and images, on generated documents with known text (real
RapidOCR, in this process)."""

from __future__ import annotations

import pytest
from PIL import Image

from ingest.chunking import ChunkingPlan
from ingest.loaders import is_supported, load_document
from ingest.ocr import OcrOptions, PageBudget, looks_garbled, ocr_status
from ingest.reading import InProcessReader
from ingest.results import FileFailure
from tests.ingest.ocr_fixtures import (
    AUDIT,
    BILLING,
    PUMP,
    PdfPage,
    image_bytes,
    make_pdf,
    render_page,
    scanned_pdf,
    word_recall,
    words,
)

MIN_RECALL = 0.95
OFF = OcrOptions(enabled=False)


def test_the_ocr_extra_is_installed():
    status = ocr_status()
    assert status.available, status.detail
    assert "rapidocr" in status.detail


def test_a_multi_page_scan_is_read_page_by_page():
    document = load_document("scan.pdf", scanned_pdf(AUDIT, PUMP, BILLING))
    assert document.kind == "pdf"
    assert [(p.number, p.ocr) for p in document.pages] == [(1, True), (2, True), (3, True)]
    for page, text in zip(document.pages, [AUDIT, PUMP, BILLING], strict=True):
        recall = word_recall(text, page.text)
        assert recall >= MIN_RECALL, (page.number, recall, page.text)
    assert document.ocr_pages == {1, 2, 3}
    assert document.notes == []


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_page_scanned_sideways_or_upside_down_reads_in_order(angle):
    document = load_document("turned.pdf", scanned_pdf(PUMP, rotate=(angle,)))
    (page,) = document.pages
    assert page.ocr
    assert word_recall(PUMP, page.text) >= MIN_RECALL, page.text
    found = words(page.text)
    # reading order: the first sentence comes before the last one
    assert found.index("zephyr") < found.index("ceramic")


def test_a_page_turned_by_its_rotate_entry_is_read_upright():
    # an upright image on a page whose /Rotate turns it sideways when rendered
    (page,) = load_document("r.pdf", make_pdf([PdfPage(image=render_page(AUDIT), rotate=90)])).pages
    assert page.ocr
    assert word_recall(AUDIT, page.text) >= MIN_RECALL, page.text


def test_only_pages_without_usable_text_are_ocrd():
    pdf = make_pdf(
        [
            PdfPage(text="This page has a real text layer about pumps."),
            PdfPage(image=render_page(AUDIT)),
            # a scan whose (invisible) text layer is garbage: control characters
            PdfPage(
                image=render_page(BILLING),
                text="\x01\x02\x03\x04\x05 \x06\x07\x08\x0e\x0f\x10",
                invisible_text=True,
            ),
        ]
    )
    document = load_document("mixed.pdf", pdf)
    first, second, third = document.pages
    assert (first.ocr, first.text.strip()) == (
        False,
        "This page has a real text layer about pumps.",
    )
    assert second.ocr
    assert word_recall(AUDIT, second.text) >= MIN_RECALL
    assert third.ocr
    assert word_recall(BILLING, third.text) >= MIN_RECALL
    assert "\x01" not in third.text


def test_pages_beyond_the_budget_are_reported_not_dropped():
    document = load_document("long.pdf", scanned_pdf(AUDIT, PUMP, BILLING), OcrOptions(max_pages=1))
    assert [(p.number, p.ocr) for p in document.pages] == [(1, True), (2, False), (3, False)]
    (note,) = document.notes
    assert "DOCENT_OCR_MAX_PAGES=1" in note
    assert "2 page(s) without a text layer not read: 2, 3" in note


def test_a_spent_time_budget_reads_no_page_and_says_so():
    with pytest.raises(FileFailure) as caught:
        load_document("slow.pdf", scanned_pdf(AUDIT), OcrOptions(time_budget_seconds=-1))
    assert caught.value.reason == "no_text"
    assert caught.value.message.startswith("no text layer (scanned?), and no page was read by OCR")
    assert "not read: 1" in caught.value.message


def test_with_ocr_off_a_scan_stays_no_text_with_the_way_to_turn_it_on():
    with pytest.raises(FileFailure) as caught:
        load_document("scan.pdf", scanned_pdf(AUDIT), OFF)
    assert (caught.value.reason, caught.value.message) == (
        "no_text",
        "no text layer (scanned?); OCR is off (DOCENT_OCR=false)",
    )


def test_with_ocr_off_a_mixed_pdf_keeps_its_text_pages_and_notes_the_rest():
    pdf = make_pdf([PdfPage(text="Text layer here."), PdfPage(image=render_page(AUDIT))])
    document = load_document("mixed.pdf", pdf, OFF)
    assert [(p.number, p.ocr, bool(p.text.strip())) for p in document.pages] == [
        (1, False, True),
        (2, False, False),
    ]
    assert document.notes == [
        "1 page(s) without usable text not read: OCR is off (DOCENT_OCR=false)"
    ]


def test_with_ocr_off_a_garbled_text_layer_is_kept_and_noted():
    pdf = make_pdf([PdfPage(image=render_page(AUDIT), text="\x01\x02\x03\x04\x05\x06")])
    document = load_document("garbled.pdf", pdf, OFF)
    assert [(p.ocr, p.text.strip()) for p in document.pages] == [
        (False, "\x01\x02\x03\x04\x05\x06")
    ]
    assert document.notes == [
        "1 page(s) without usable text not read: OCR is off (DOCENT_OCR=false)"
    ]


def test_a_picture_without_text_is_no_text_after_ocr():
    picture = Image.linear_gradient("L").resize((800, 1000))
    with pytest.raises(FileFailure) as caught:
        load_document("photo.pdf", make_pdf([PdfPage(image=picture)]))
    assert caught.value.reason == "no_text"
    assert caught.value.message == "no text layer, and OCR found no text (pictures only?)"


@pytest.mark.parametrize(("name", "fmt"), [("note.png", "PNG"), ("note.jpg", "JPEG")])
def test_an_image_is_a_document(name, fmt):
    data = image_bytes(render_page(PUMP), fmt)
    document = load_document(name, data)
    assert document.kind == "image"
    (page,) = document.pages
    assert (page.number, page.ocr) == (1, True)
    assert word_recall(PUMP, page.text) >= MIN_RECALL


def test_a_multi_page_tiff_gives_one_page_per_frame():
    frames = [render_page(AUDIT), render_page(BILLING)]
    data = image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    document = load_document("fax.tiff", data)
    assert [(p.number, p.ocr) for p in document.pages] == [(1, True), (2, True)]
    assert word_recall(AUDIT, document.pages[0].text) >= MIN_RECALL
    assert word_recall(BILLING, document.pages[1].text) >= MIN_RECALL


def test_images_are_supported_types():
    assert all(is_supported(f"a{ext}") for ext in (".png", ".jpg", ".jpeg", ".tif", ".TIFF"))


def test_image_failures_are_clear():
    with pytest.raises(FileFailure) as broken:
        load_document("broken.png", b"\x89PNG\r\n\x1a\n not really")
    assert (broken.value.reason, broken.value.message) == (
        "malformed",
        "cannot be parsed: not a readable image",
    )
    blank = image_bytes(Image.new("L", (600, 400), 255), "PNG")
    with pytest.raises(FileFailure) as empty:
        load_document("blank.png", blank)
    assert (empty.value.reason, empty.value.message) == (
        "no_text",
        "an image in which OCR found no text",
    )
    with pytest.raises(FileFailure) as off:
        load_document("blank.png", blank, OFF)
    assert off.value.reason == "no_text"
    assert off.value.message.endswith("OCR is off (DOCENT_OCR=false)")


def test_ocr_pages_reach_the_read_outcome():
    plan = ChunkingPlan(size=60, overlap=8, limit=126)
    pdf = make_pdf([PdfPage(text="A text layer page."), PdfPage(image=render_page(PUMP))])
    outcome = InProcessReader().read("m.pdf", pdf, plan)
    assert outcome.ocr_pages == {2}
    assert {piece.page for piece in outcome.pieces} == {1, 2}
    with pytest.raises(FileFailure) as caught:
        InProcessReader(OFF).read("s.pdf", scanned_pdf(PUMP), plan)
    assert caught.value.reason == "no_text"


@pytest.mark.parametrize(
    ("text", "garbled"),
    [
        ("An ordinary sentence.", False),
        ("", False),
        ("Ünïcödé, 中文 and العربية are fine", False),
        ("\x01\x02\x03\x04 ab", True),
        ("\ue000\ue001\ue002 x", True),
        ("\ufffd\ufffd\ufffd\ufffd text", True),
    ],
)
def test_looks_garbled(text, garbled):
    assert looks_garbled(text) is garbled


def test_page_budget_counts_pages_and_names_the_rest():
    budget = PageBudget.start(OcrOptions(max_pages=2, time_budget_seconds=None))
    assert [budget.take(n) for n in range(1, 15)] == [True, True] + [False] * 12
    note = budget.note()
    assert note is not None
    assert "12 page(s)" in note
    assert "3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 2 more" in note
    assert PageBudget.start(OcrOptions()).note() is None
