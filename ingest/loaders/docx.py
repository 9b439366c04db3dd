"""DOCX: paragraphs, headings, lists and tables as text, in document order (python-docx).

Headings become Markdown headings (``#`` per level) so chunking cuts at sections as it
does for Markdown; list items get ``-`` or ``1.``; a table is one line per row, cells
separated by `` | ``. Headers, footers, comments and text boxes are not read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.loaders.base import LoadedDocument, Page
from ingest.results import FileFailure

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_HEADING = re.compile(r"^(?:Heading|Überschrift|Titre|Titolo|Título)\s*(\d)$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:-|\d+\.) ")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def load_docx(data: bytes) -> LoadedDocument:
    """The text of a Word document, with Markdown headings.

    Raises:
        FileFailure: ``encrypted`` (password-protected), ``malformed`` (not a DOCX),
            ``empty`` (no text).
    """
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise FileFailure("encrypted", "encrypted: password-protected Word document")
        raise FileFailure(
            "malformed", "cannot be parsed: an old binary Word file (.doc); save it as .docx"
        )
    try:
        document = docx.Document(io.BytesIO(data))
        text = _join(_blocks(document))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise FileFailure("malformed", "cannot be parsed: not a valid DOCX file") from exc
    if not text.strip():
        raise FileFailure("empty", "the document has no text")
    return LoadedDocument(kind="docx", pages=[Page(0, text)])


def _join(blocks: Iterator[str]) -> str:
    """Blocks apart by a blank line; the items of one list on consecutive lines."""
    out: list[str] = []
    for block in blocks:
        if out and _LIST_ITEM.match(block) and _LIST_ITEM.match(out[-1].rsplit("\n", 1)[-1]):
            out[-1] += "\n" + block
        else:
            out.append(block)
    return "\n\n".join(out)


def _blocks(document: Document) -> Iterator[str]:
    """Markdown-ish text of each body block: paragraphs and tables, in order."""
    numbering: dict[int, int] = {}
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            numbering.clear()
            rows = _table_rows(block)
            if rows:
                yield "\n".join(rows)
        elif isinstance(block, Paragraph):
            line = _paragraph(block, numbering)
            if line:
                yield line


def _paragraph(paragraph: Paragraph, numbering: dict[int, int]) -> str:
    """One paragraph as a Markdown heading, list item or plain line.

    ``numbering`` counts numbered items per list level; any other block resets it.
    """
    text = paragraph.text.strip()
    if not text:
        return ""
    style = (paragraph.style.name if paragraph.style is not None else None) or ""
    heading = _HEADING.match(style)
    if heading:
        numbering.clear()
        return "#" * min(6, int(heading.group(1))) + " " + text
    if style == "Title":
        numbering.clear()
        return "# " + text
    item = _list_item(paragraph, style)
    if item is None:
        numbering.clear()
        return text
    numbered, level = item
    indent = "  " * level
    if not numbered:
        return f"{indent}- {text}"
    numbering[level] = numbering.get(level, 0) + 1
    for deeper in [k for k in numbering if k > level]:
        del numbering[deeper]
    return f"{indent}{numbering[level]}. {text}"


def _list_item(paragraph: Paragraph, style: str) -> tuple[bool, int] | None:
    """(numbered?, level) of a list paragraph, None for other paragraphs."""
    properties = paragraph._p.pPr
    num = properties.find(f"{_W}numPr") if properties is not None else None
    if num is None and not style.startswith("List"):
        return None
    level = 0
    if num is not None:
        ilvl = num.find(f"{_W}ilvl")
        if ilvl is not None and (value := ilvl.get(f"{_W}val", "0")).isdigit():
            level = int(value)
    else:
        found = re.search(r"(\d)$", style)
        level = int(found.group(1)) - 1 if found else 0
    return "Number" in style, max(0, level)


def _table_rows(table: Table) -> list[str]:
    """One line per row; a merged cell is written once."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows
