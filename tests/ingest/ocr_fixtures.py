"""Documents with known text, generated in the test: page images rendered with Pillow, PDFs
with or without a text layer (a minimal PDF writer), DOCX files (python-docx)."""

from __future__ import annotations

import io
import re
import textwrap
import zlib
from collections import Counter
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

PAGE_PX = (1700, 2200)
"""A US Letter page scanned at 200 dpi."""

AUDIT = (
    "The quarterly audit found that the warehouse in Lisbon kept accurate inventory "
    "records. Shipping delays fell by twelve percent after the new routing software was "
    "introduced in March. The committee recommends extending the warranty to thirty six "
    "months for all industrial pumps."
)
PUMP = (
    "Before first use, prime the Zephyr pump with two litres of clean water. Open the "
    "bleed valve until no air bubbles remain, then close it firmly by hand. Never run the "
    "pump dry: the ceramic seal cracks within a few seconds."
)
BILLING = (
    "Customer complaints about billing errors were resolved within five working days on "
    "average. Energy consumption per unit produced decreased steadily throughout the "
    "second half of the year, mostly thanks to the heat recovery system."
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def word_recall(reference: str, found: str) -> float:
    """Share of the reference's words (with multiplicity) that the found text contains."""
    wanted, got = Counter(words(reference)), Counter(words(found))
    return sum(min(n, got[w]) for w, n in wanted.items()) / sum(wanted.values())


def render_page(text: str, *, font_px: int = 30, size: tuple[int, int] = PAGE_PX) -> Image.Image:
    """``text`` typeset on a white grayscale page (Pillow's bundled font)."""
    font = ImageFont.load_default(size=font_px)
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    columns = int((size[0] - 240) / (font_px * 0.5))
    y = 150
    for paragraph in text.split("\n\n"):
        for line in textwrap.wrap(paragraph, columns):
            draw.text((120, y), line, font=font, fill=0)
            y += int(font_px * 1.5)
        y += font_px
    return page


@dataclass(frozen=True)
class PdfPage:
    """One page: an image filling it and/or a text layer (invisible: render mode 3)."""

    image: Image.Image | None = None
    text: str | None = None
    invisible_text: bool = False
    rotate: int = 0


def _escape(line: str) -> bytes:
    raw = line.encode("latin-1")
    out = bytearray()
    for byte in raw:
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif byte < 32 or byte > 126:
            out += f"\\{byte:03o}".encode()
        else:
            out.append(byte)
    return bytes(out)


def make_pdf(pages: list[PdfPage]) -> bytes:
    """A valid PDF (Letter pages) built from ``pages``; no text layer unless given."""
    objects: list[bytes] = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids: list[int] = []
    for page in pages:
        content = b""
        resources = b"/Font << /F1 3 0 R >>"
        if page.image is not None:
            gray = page.image.convert("L")
            data = zlib.compress(gray.tobytes())
            objects.append(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
                % (gray.width, gray.height, len(data))
                + data
                + b"\nendstream"
            )
            resources += b" /XObject << /Im0 %d 0 R >>" % len(objects)
            content += b"q 612 0 0 792 0 0 cm /Im0 Do Q\n"
        if page.text is not None:
            mode = 3 if page.invisible_text else 0
            content += b"BT /F1 12 Tf %d Tr 14 TL 72 720 Td\n" % mode
            for line in textwrap.wrap(page.text, 80):
                content += b"(" + _escape(line) + b") Tj T*\n"
            content += b"ET\n"
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream")
        contents = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate %d "
            b"/Resources << %s >> /Contents %d 0 R >>" % (page.rotate, resources, contents)
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def scanned_pdf(*texts: str, rotate: tuple[int, ...] = ()) -> bytes:
    """A scan: one page image per text, no text layer; ``rotate`` turns page images
    (degrees counter-clockwise), as a sheet fed sideways or upside down."""
    images = []
    for i, text in enumerate(texts):
        image = render_page(text)
        angle = rotate[i] if i < len(rotate) else 0
        images.append(image.rotate(angle, expand=True, fillcolor=255) if angle else image)
    return make_pdf([PdfPage(image=image) for image in images])


def image_bytes(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


DOCX_SECTIONS = {
    "Installation": "Mount the pump on a level concrete base with four M10 anchor bolts.",
    "Maintenance": "Replace the ceramic seal every eighteen months or after 4000 hours.",
    "Warranty": "The warranty covers manufacturing defects for thirty six months.",
}


def make_docx() -> bytes:
    """A manual with a title, headings, paragraphs, both kinds of list and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Zephyr Pump Manual", level=0)
    document.add_paragraph("This manual covers the Zephyr ZP-200 centrifugal pump.")
    for title, body in DOCX_SECTIONS.items():
        document.add_heading(title, level=1)
        document.add_paragraph(body)
        if title == "Installation":
            document.add_paragraph("Check the base is level", style="List Bullet")
            document.add_paragraph("Tighten the anchor bolts", style="List Bullet")
            document.add_heading("Electrical connection", level=2)
            document.add_paragraph("Switch off the mains", style="List Number")
            document.add_paragraph("Connect the motor cable", style="List Number")
        if title == "Maintenance":
            table = document.add_table(rows=3, cols=2)
            for row, (part, interval) in zip(
                table.rows,
                [("Part", "Interval"), ("Seal", "18 months"), ("Bearing", "24 months")],
                strict=True,
            ):
                row.cells[0].text = part
                row.cells[1].text = interval
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
