"""Reading one file into chunk texts: load (by format) then split. Runs in a worker process."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.chunking import ChunkingPlan, TextPiece, split_document
from ingest.loaders import load_document
from ingest.results import FileFailure


@dataclass(frozen=True)
class ReadOutcome:
    pieces: list[TextPiece]
    notes: list[str] = field(default_factory=list)


def read_and_split(name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome:
    """Load ``data`` as the file ``name`` and cut it into chunks.

    Raises:
        FileFailure: the file cannot give any chunk (with the reason).
    """
    document = load_document(name, data)
    pieces = split_document(document, plan)
    if not pieces:
        if document.kind == "pdf":
            raise FileFailure("no_text", "no text layer (scanned?); OCR is not supported")
        raise FileFailure("empty", "the file has no text to index")
    return ReadOutcome(pieces=pieces, notes=list(document.notes))


class InProcessReader:
    """Reads files in the calling thread: no isolation and no start-up cost.

    For tests and notebooks with trusted files.
    """

    def read(self, name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome:
        try:
            return read_and_split(name, data, plan)
        except FileFailure:
            raise
        except MemoryError as exc:
            raise FileFailure("too_large", "too large to read in memory") from exc
        except Exception as exc:
            raise FileFailure("malformed", f"cannot be read: {type(exc).__name__}") from exc

    def close(self) -> None:
        return None
