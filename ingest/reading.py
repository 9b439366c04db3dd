"""Reading one file into chunk texts: load (by format) then split. Runs in a worker process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ingest.chunking import ChunkingPlan, TextPiece, split_document
from ingest.loaders import load_document
from ingest.ocr import OcrOptions
from ingest.results import FileFailure
from retrieval.lexical.analyzer import Analyzer, default_analyzer
from retrieval.types import LexicalTerms


@dataclass(frozen=True)
class ReadOutcome:
    pieces: list[TextPiece]
    notes: list[str] = field(default_factory=list)
    ocr_pages: frozenset[int] = frozenset()
    """Pages whose text was read by OCR (their chunks say ``ocr: true``)."""
    terms: list[LexicalTerms] = field(default_factory=list)
    """Each piece's BM25 terms, in order: analysed here, in the worker, so the process
    that writes Chroma does not (it was a fifth of its time in a write-bound ingest)."""


@lru_cache(maxsize=1)
def _analyzer() -> Analyzer:
    return default_analyzer()


def read_and_split(
    name: str, data: bytes, plan: ChunkingPlan, ocr: OcrOptions | None = None
) -> ReadOutcome:
    """Load ``data`` as the file ``name`` and cut it into chunks.

    Args:
        name: the file's name (its extension picks the format).
        data: the file's bytes.
        plan: how to cut.
        ocr: whether and how much OCR may read pages without text (default: on).

    Raises:
        FileFailure: the file cannot give any chunk (with the reason).
    """
    options = ocr or OcrOptions()
    document = load_document(name, data, options)
    pieces = split_document(document, plan)
    if not pieces:
        if document.kind == "pdf":
            from ingest.loaders.pdf import no_text_message

            raise FileFailure("no_text", no_text_message(options, document.notes))
        raise FileFailure("empty", "the file has no text to index")
    return ReadOutcome(
        pieces=pieces,
        notes=list(document.notes),
        ocr_pages=document.ocr_pages,
        terms=[_analyzer().analyse(piece.text) for piece in pieces],
    )


class InProcessReader:
    """Reads files in the calling thread: no isolation and no start-up cost.

    For tests and notebooks with trusted files.
    """

    def __init__(self, ocr: OcrOptions | None = None) -> None:
        self.ocr = ocr or OcrOptions()

    def read(self, name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome:
        try:
            return read_and_split(name, data, plan, self.ocr)
        except FileFailure:
            raise
        except MemoryError as exc:
            raise FileFailure("too_large", "too large to read in memory") from exc
        except Exception as exc:
            raise FileFailure("malformed", f"cannot be read: {type(exc).__name__}") from exc

    def read_many(
        self, files: Sequence[tuple[str, bytes]], plan: ChunkingPlan
    ) -> list[ReadOutcome | FileFailure]:
        """:meth:`read` for each file; failures are returned, not raised."""
        results: list[ReadOutcome | FileFailure] = []
        for name, data in files:
            try:
                results.append(self.read(name, data, plan))
            except FileFailure as exc:
                results.append(exc)
        return results

    def close(self) -> None:
        return None
