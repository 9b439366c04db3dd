"""DOCX: text, headings, lists and tables in order; headings guide chunking."""

from __future__ import annotations

import io
import zipfile

import pytest

from ingest.chunking import ChunkingPlan, split_document
from ingest.loaders import is_supported, load_document
from ingest.results import FileFailure
from tests.ingest.ocr_fixtures import DOCX_SECTIONS, make_docx

EXPECTED = """# Zephyr Pump Manual

This manual covers the Zephyr ZP-200 centrifugal pump.

# Installation

Mount the pump on a level concrete base with four M10 anchor bolts.

- Check the base is level
- Tighten the anchor bolts

## Electrical connection

1. Switch off the mains
2. Connect the motor cable

# Maintenance

Replace the ceramic seal every eighteen months or after 4000 hours.

Part | Interval
Seal | 18 months
Bearing | 24 months

# Warranty

The warranty covers manufacturing defects for thirty six months."""


def test_docx_text_headings_lists_and_tables_in_order():
    document = load_document("manual.docx", make_docx())
    assert document.kind == "docx"
    assert document.markdown_headings
    (page,) = document.pages
    assert (page.number, page.ocr) == (0, False)
    assert page.text == EXPECTED


def test_headings_guide_chunking():
    document = load_document("manual.docx", make_docx())
    plan = ChunkingPlan(size=30, overlap=0, limit=62)
    pieces = split_document(document, plan)
    for title, body in DOCX_SECTIONS.items():
        (holder,) = [p for p in pieces if body in p.text]
        # the section's body is chunked with its own heading, not with the previous section
        assert holder.text.startswith(f"# {title}"), holder.text
    assert all(p.text == page_slice for p, page_slice in _slices(document, pieces))


def _slices(document, pieces):
    text = document.pages[0].text
    return [(p, text[p.start : p.end]) for p in pieces]


def test_a_numbered_list_restarts_after_other_text():
    import docx

    doc = docx.Document()
    doc.add_paragraph("one", style="List Number")
    doc.add_paragraph("two", style="List Number")
    doc.add_paragraph("Between the lists.")
    doc.add_paragraph("again", style="List Number")
    doc.add_paragraph("nested", style="List Bullet 2")
    buffer = io.BytesIO()
    doc.save(buffer)
    (page,) = load_document("l.docx", buffer.getvalue()).pages
    assert page.text == "1. one\n2. two\n\nBetween the lists.\n\n1. again\n  - nested"


def test_docx_failures_are_clear():
    assert is_supported("Report.DOCX")
    with pytest.raises(FileFailure) as not_zip:
        load_document("a.docx", b"plain text pretending")
    assert (not_zip.value.reason, not_zip.value.message) == (
        "malformed",
        "cannot be parsed: not a valid DOCX file",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "a zip, but no Word document inside")
    with pytest.raises(FileFailure) as wrong_zip:
        load_document("b.docx", buffer.getvalue())
    assert wrong_zip.value.reason == "malformed"
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200
    with pytest.raises(FileFailure) as old:
        load_document("c.docx", ole)
    assert (old.value.reason, old.value.message) == (
        "malformed",
        "cannot be parsed: an old binary Word file (.doc); save it as .docx",
    )
    with pytest.raises(FileFailure) as locked:
        load_document("d.docx", ole + "EncryptedPackage".encode("utf-16-le"))
    assert (locked.value.reason, locked.value.message) == (
        "encrypted",
        "encrypted: password-protected Word document",
    )
    import docx

    empty = io.BytesIO()
    docx.Document().save(empty)
    with pytest.raises(FileFailure) as nothing:
        load_document("e.docx", empty.getvalue())
    assert (nothing.value.reason, nothing.value.message) == ("empty", "the document has no text")
