"""One document on its way through the pipeline: loading its bytes, and its chunks and record."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.reading import ReadOutcome
from ingest.results import FileFailure
from ingest.sources import SourceFile
from retrieval.store import (
    DocumentRecord,
    DocumentWrite,
    chunk_id,
    chunk_metadata,
    doc_id_for,
    utc_now,
)
from retrieval.types import Chunk


def load_bytes(file: SourceFile, max_mb: float) -> bytes:
    """The file's bytes, if it is not over ``max_mb`` (blocking: run it in a thread).

    Raises:
        FileFailure: ``too_large``, or ``unreadable`` with the system's reason.
    """
    try:
        size, data = file.read_within(int(max_mb * 1024 * 1024))
    except OSError as exc:
        raise FileFailure("unreadable", f"cannot be read: {exc.strerror}") from exc
    if data is None:
        raise FileFailure(
            "too_large",
            f"{size / 1024 / 1024:.1f} MB is over the {max_mb:g} MB limit "
            "(DOCENT_INGEST_MAX_FILE_MB)",
        )
    return data


@dataclass
class PreparedDoc:
    """A read and split document, then its vectors, until it is written."""

    file: SourceFile
    record: DocumentRecord
    chunks: list[Chunk]
    present: set[str] = field(default_factory=set)
    """Ids already stored (an interrupted run's): not embedded again."""
    notes: tuple[str, ...] = ()
    vectors: dict[str, list[float]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    """Each chunk's tokens (by id), as the chunker counted them: they size embedding requests
    (and are stored in each chunk's metadata, for the prompts)."""

    @property
    def missing(self) -> list[Chunk]:
        """The chunks to embed and store."""
        return [c for c in self.chunks if c.id not in self.present]

    def to_write(self) -> DocumentWrite:
        return DocumentWrite(record=self.record, chunks=self.chunks, vectors=self.vectors)


def prepare_document(
    file: SourceFile, digest: str, version: str, outcome: ReadOutcome, embed_model: str
) -> PreparedDoc:
    """The ``pending`` record and the chunks (ids, metadata) of a read document."""
    doc_id = doc_id_for(file.source)
    record = DocumentRecord(
        doc_id=doc_id,
        source=file.source,
        content_hash=digest,
        chunk_count=len(outcome.pieces),
        ingested_at=utc_now(),
        version=version,
        state="pending",
        root=file.root,
    )
    chunks = [
        Chunk(
            id=chunk_id(doc_id, version, index),
            text=piece.text,
            metadata=chunk_metadata(
                source=file.source,
                doc_id=doc_id,
                page=piece.page,
                chunk_index=index,
                start=piece.start,
                end=piece.end,
                doc_hash=digest,
                embed_model=embed_model,
                ocr=piece.page in outcome.ocr_pages,
                tokens=piece.tokens,
            ),
            terms=outcome.terms[index] if outcome.terms else None,
        )
        for index, piece in enumerate(outcome.pieces)
    ]
    tokens = {chunk.id: piece.tokens for chunk, piece in zip(chunks, outcome.pieces, strict=True)}
    return PreparedDoc(file, record, chunks, notes=tuple(outcome.notes), tokens=tokens)
