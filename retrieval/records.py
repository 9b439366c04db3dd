"""What the store records: document records, chunk ids, the metadata every chunk carries.

Plain values with no Chroma in them; :mod:`retrieval.store` keeps them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from retrieval.errors import InvalidRequest
from retrieval.types import Chunk, Metadata

_DOC_ID = re.compile(r"^[0-9a-f]{8,64}$")

TOKENS_KEY = "tokens"
"""Chunk metadata: :func:`retrieval.tokens.count_tokens` of the chunk's text, [CLS] and [SEP]
included. Chunks stored before Docent wrote it have none (see :func:`stored_tokens`)."""

DocumentState = Literal["pending", "done"]


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    embed_model: str
    dimension: int
    chunk_count: int
    document_count: int


@dataclass(frozen=True)
class DocumentRecord:
    """What is indexed for one document.

    ``version`` (a hash of the content and the chunking settings) is part of every chunk
    id, so a document's chunk ids are ``chunk_ids(doc_id, version, chunk_count)``.
    """

    doc_id: str
    source: str
    content_hash: str
    chunk_count: int
    ingested_at: str
    version: str = ""
    state: DocumentState = "done"
    root: str = ""


@dataclass(frozen=True)
class DocumentWrite:
    """One document to write: its record, all its chunks, and vectors for those to store.

    Chunks without a vector are expected to be stored already (an interrupted run's, or
    an unchanged part); :meth:`ChunkStore.write_documents` checks it under the lock.
    """

    record: DocumentRecord
    chunks: Sequence[Chunk]
    vectors: Mapping[str, Sequence[float]]


@dataclass
class WriteOutcome:
    """What :meth:`ChunkStore.write_documents` did.

    ``vanished`` maps a document that was *not* written to the ids of chunks that were
    expected to be stored but are gone (a concurrent delete): embed them and write again.
    """

    written: list[str] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    vanished: dict[str, list[str]] = field(default_factory=dict)


def doc_id_for(source: str) -> str:
    """Stable id of a document: a short hash of its source path (``/``-separated)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def validate_doc_id(doc_id: str) -> None:
    """Raise :class:`InvalidRequest` unless ``doc_id`` has the shape of a document id.

    Docent's ids are 16 hex digits (:func:`doc_id_for`); 8 to 64 are accepted, so that
    stores filled by other tools keep working.
    """
    if not _DOC_ID.match(doc_id):
        shown = doc_id if len(doc_id) <= 40 else doc_id[:40] + "..."
        raise InvalidRequest(
            f"Expected a document id of lowercase hex digits (16, as listed by GET "
            f"/v1/collections/NAME/documents), got {shown!r}."
        )


def chunk_id(doc_id: str, version: str, index: int) -> str:
    """Deterministic chunk id; a changed document (new version) gets new ids."""
    return f"{doc_id}-{version}-{index:05d}"


def chunk_ids(doc_id: str, version: str, count: int) -> list[str]:
    return [chunk_id(doc_id, version, i) for i in range(count)]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_RECORD_FIELDS = tuple(f.name for f in fields(DocumentRecord) if f.name != "doc_id")


def record_metadata(record: DocumentRecord) -> dict[str, str | int]:
    """The record's fields but its id (the row's id), as stored and cached.

    Read field by field: ``dataclasses.asdict`` deep-copies, and cost 0.45 s of every
    write run's record cache save at 32,573 records (this, 0.02 s).
    """
    return {name: getattr(record, name) for name in _RECORD_FIELDS}


def record_from(doc_id: str, meta: Mapping[str, Any]) -> DocumentRecord:
    state: DocumentState = "pending" if meta.get("state") == "pending" else "done"
    return DocumentRecord(
        doc_id=doc_id,
        source=str(meta.get("source", "")),
        content_hash=str(meta.get("content_hash", "")),
        chunk_count=int(meta.get("chunk_count", 0)),
        ingested_at=str(meta.get("ingested_at", "")),
        version=str(meta.get("version", "")),
        state=state,
        root=str(meta.get("root", "")),
    )


def chunk_metadata(
    *,
    source: str,
    doc_id: str,
    page: int,
    chunk_index: int,
    start: int,
    end: int,
    doc_hash: str,
    embed_model: str,
    ocr: bool = False,
    tokens: int | None = None,
) -> Metadata:
    """The metadata every stored chunk carries (see :class:`retrieval.types.Chunk`).

    ``ocr: True`` is added to chunks of text read by OCR; ``tokens`` (the chunker's exact
    :func:`retrieval.tokens.count_tokens` of the text) when known, so that prompts need
    not encode the text again.
    """
    return {
        **({"ocr": True} if ocr else {}),
        **({TOKENS_KEY: tokens} if tokens is not None else {}),
        "source": source,
        "doc_id": doc_id,
        "page": page,
        "chunk_index": chunk_index,
        "start": start,
        "end": end,
        "doc_hash": doc_hash,
        "embed_model": embed_model,
    }


def stored_tokens(metadata: Mapping[str, Any]) -> int | None:
    """The chunk's stored token count (:data:`TOKENS_KEY`), or None when it has none.

    None too for a value that cannot be a count (not an int, or fewer than the two
    special tokens): a chunk written by another tool is then counted again.
    """
    value = metadata.get(TOKENS_KEY)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        return None
    return value
