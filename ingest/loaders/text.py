"""Plain text and Markdown: decoding that never crashes, and says what it did."""

from __future__ import annotations

import charset_normalizer

from ingest.loaders.base import LoadedDocument, Page
from ingest.results import FileFailure

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


_WESTERN = ("cp1252", "latin_1", "iso8859_15")
"""Preferred among equally plausible guesses: short texts are ambiguous, and Western
European encodings are the most common non-UTF-8 text files."""


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """Decode bytes of unknown encoding.

    UTF-8 (with or without BOM) first, then UTF-16 with a BOM, then the encoding
    charset-normalizer detects (preferring Western European ones among its
    candidates); as a last resort UTF-8 with replacement characters.

    Returns:
        The text and notes describing any fallback.

    Raises:
        FileFailure: ``malformed`` when the bytes look binary, not like text.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), []
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    if data.count(b"\x00") > len(data) // 100:
        raise FileFailure("malformed", "binary content, not text (NUL bytes)")
    matches = charset_normalizer.from_bytes(data)
    western = [m for m in matches if m.encoding in _WESTERN]
    best = western[0] if western else matches.best()
    if best is not None and best.encoding:
        return str(best), [f"not UTF-8; decoded as {best.encoding} (detected)"]
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    return text, [f"not valid UTF-8; {bad} undecodable byte sequence(s) replaced with U+FFFD"]


def _load(data: bytes, kind: str) -> LoadedDocument:
    text, notes = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise FileFailure("empty", "the file contains only whitespace")
    if kind == "markdown":
        return LoadedDocument(kind="markdown", pages=[Page(0, text)], notes=notes)
    return LoadedDocument(kind="text", pages=[Page(0, text)], notes=notes)


def load_text(data: bytes) -> LoadedDocument:
    return _load(data, "text")


def load_markdown(data: bytes) -> LoadedDocument:
    return _load(data, "markdown")
