"""HTML: the visible text (no scripts, styles or markup)."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from ingest.loaders.base import LoadedDocument, Page
from ingest.loaders.text import decode_text
from ingest.results import FileFailure

_INVISIBLE = ["script", "style", "noscript", "template", "svg", "head", "iframe", "object"]
_BLOCKS = (
    "p,h1,h2,h3,h4,h5,h6,li,div,br,tr,td,th,pre,blockquote,section,article,header,"
    "footer,dt,dd,table,ul,ol,nav,aside,main,figure,figcaption,hr"
)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Visible text of an HTML document, one block per line."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else ""
    tree.strip_tags(_INVISIBLE)
    for node in tree.css(_BLOCKS):
        node.insert_after("\n")
    root = tree.body or tree.root
    raw = root.text(separator="") if root is not None else ""
    lines = [_SPACES.sub(" ", line).strip() for line in raw.splitlines()]
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}".strip()
    return text


def load_html(data: bytes) -> LoadedDocument:
    html, notes = decode_text(data)
    text = html_to_text(html)
    if not text:
        raise FileFailure("empty", "the page has no visible text")
    return LoadedDocument(kind="html", pages=[Page(0, text)], notes=notes)
