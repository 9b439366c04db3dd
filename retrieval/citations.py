"""Citations in an answer.

``[n]``, ``[n, m]`` and ``[n][m]`` markers are mapped to sources, and the answer's
sentences that cite nothing are flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.events import Citation, SourceRef

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])")  # and the CJK full stops
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\s*\d{1,3}(?:\s*,\s*\d{1,3})*\s*\])+")
MIN_SENTENCE_CHARS = 16
"""Shorter sentences ("Yes.", "In short:") are not flagged as uncited."""


def cited_numbers(text: str) -> list[int]:
    """Every number cited in ``text``, in order of first appearance, without repeats."""
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            value = int(part)
            if value not in numbers:
                numbers.append(value)
    return numbers


def map_citations(text: str, sources: Sequence[SourceRef]) -> list[Citation]:
    """The sources ``text`` cites, in order of first citation; unknown numbers are ignored."""
    by_number = {source.n: source for source in sources}
    return [
        Citation(
            n=n,
            id=by_number[n].id,
            source=by_number[n].source,
            page=by_number[n].page,
            ocr=by_number[n].ocr,
        )
        for n in cited_numbers(text)
        if n in by_number
    ]


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after . ! ? and their CJK forms).

    Markers that open a sentence (``Fact. [1] Next``) belong to the sentence before.
    """
    pieces = [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]
    sentences: list[str] = []
    for piece in pieces:
        leading = _LEADING_MARKERS.match(piece)
        if leading and sentences:
            sentences[-1] = f"{sentences[-1]} {leading.group(0).strip()}"
            piece = piece[leading.end() :].strip()
        if piece:
            sentences.append(piece)
    return sentences


def uncited_sentences(text: str, valid: Sequence[int], *, ignore: Sequence[str] = ()) -> list[str]:
    """Sentences of ``text`` with no marker citing one of ``valid``.

    Args:
        text: the answer.
        valid: the block numbers that exist.
        ignore: sentences never flagged (e.g. the "not found" reply).
    """
    allowed = set(valid)
    skipped = {s.strip() for s in ignore}
    flagged: list[str] = []
    for sentence in split_sentences(text):
        if len(sentence) < MIN_SENTENCE_CHARS or sentence in skipped:
            continue
        if not allowed.intersection(cited_numbers(sentence)):
            flagged.append(sentence)
    return flagged
