"""``docent check``: do a collection's records, chunks and derived indexes agree?

The chunks in Chroma are the source of truth. Each disagreement is reported; with
``repair`` it is fixed from the chunks, under the same locks as every write:

- ``pending``: an interrupted write. Repaired to ``done`` when all its chunks are there;
  otherwise left ``pending`` (the next ingest of the file completes it).
- ``missing_chunks``: a ``done`` record lists chunks that are gone. Repaired by marking
  it ``pending``, so that the next ingest re-embeds them instead of saying ``unchanged``.
- ``stale_chunks``: chunks of a document that are not in its record's set. Deleted.
- ``orphan_chunks``: chunks of a document without a record. A record is rebuilt from
  their metadata (``done`` when they form a whole version, else ``pending``).
- ``index_out_of_date``: a derived index (the lexical one) holds other ids than the
  store. Rebuilt from the chunks.

Not a disagreement, but reported: how many deleted chunks' terms the derived indexes'
files still hold (``deleted_on_disk``; the lexical index erases them in proportion to
the deletes, :mod:`retrieval.lexical.purge`). With ``purge`` they are all erased first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from retrieval.store import ChunkStore, DocumentRecord, DocumentState, chunk_ids, utc_now

Kind = Literal["pending", "missing_chunks", "stale_chunks", "orphan_chunks", "index_out_of_date"]


@dataclass(frozen=True)
class Disagreement:
    """One thing that does not agree; ``subject`` is a doc_id or a derived index's type."""

    kind: Kind
    subject: str
    detail: str


@dataclass
class CheckReport:
    """What :func:`check_collection` found (and repaired)."""

    collection: str
    documents: int = 0
    chunks: int = 0
    problems: list[Disagreement] = field(default_factory=list)
    repaired: bool = False
    deleted_on_disk: int = 0
    """Deleted chunks whose terms a derived index's files still hold (not a disagreement)."""

    @property
    def clean(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "documents": self.documents,
            "chunks": self.chunks,
            "clean": self.clean,
            "repaired": self.repaired,
            "deleted_on_disk": self.deleted_on_disk,
            "problems": [
                {"kind": p.kind, "subject": p.subject, "detail": p.detail} for p in self.problems
            ],
        }


def _version_of(chunk: str, doc_id: str) -> str:
    """The version part of ``<doc_id>-<version>-<index>``."""
    return chunk[len(doc_id) + 1 :].rsplit("-", 1)[0]


def _record_from_chunks(
    store: ChunkStore, name: str, doc_id: str, ids: list[str]
) -> DocumentRecord:
    """A record for orphan chunks: their most common version, from their metadata."""
    version, count = Counter(_version_of(i, doc_id) for i in ids).most_common(1)[0]
    first = store.get_chunks(name, sorted(i for i in ids if _version_of(i, doc_id) == version))[0]
    complete = set(chunk_ids(doc_id, version, count)) <= set(ids)
    return DocumentRecord(
        doc_id=doc_id,
        source=str(first.metadata.get("source", "")),
        content_hash=str(first.metadata.get("doc_hash", "")),
        chunk_count=count,
        ingested_at=utc_now(),
        version=version,
        state="done" if complete else "pending",
    )


def _check_document(
    record: DocumentRecord | None, stored: set[str], doc_id: str
) -> list[Disagreement]:
    if record is None:
        return [Disagreement("orphan_chunks", doc_id, f"{len(stored)} chunks without a record")]
    problems = []
    expected = set(chunk_ids(doc_id, record.version, record.chunk_count))
    missing = expected - stored
    if record.state == "pending":
        problems.append(Disagreement("pending", doc_id, f"{record.source}: interrupted write"))
    elif missing:
        detail = f"{record.source}: {len(missing)} of {len(expected)} chunks missing"
        problems.append(Disagreement("missing_chunks", doc_id, detail))
    if stale := stored - expected:
        detail = f"{record.source}: {len(stale)} chunks not in its record"
        problems.append(Disagreement("stale_chunks", doc_id, detail))
    return problems


def _repair_document(store: ChunkStore, name: str, doc_id: str) -> None:
    """Re-read one document under its lock and make its record agree with its chunks."""
    with store.locks.document(name, doc_id):
        record = store.get_records(name, [doc_id]).get(doc_id)
        stored = set(store.chunk_ids_of(name, doc_id))
        if record is None:
            if stored:
                store.put_records(name, [_record_from_chunks(store, name, doc_id, sorted(stored))])
            return
        expected = set(chunk_ids(doc_id, record.version, record.chunk_count))
        store.delete_chunks(name, sorted(stored - expected))
        state: DocumentState = "done" if expected <= stored else "pending"
        if state != record.state:
            store.put_records(name, [replace(record, state=state)])


def check_collection(
    store: ChunkStore, name: str, *, repair: bool = False, purge: bool = False
) -> CheckReport:
    """Compare records, chunks and the store's derived indexes; repair, purge if asked.

    Raises:
        CollectionNotFound: no such collection.
    """
    owners = store.chunk_owners(name)
    records = {r.doc_id: r for r in store.list_documents(name)}
    report = CheckReport(collection=name, documents=len(records), chunks=len(owners))
    by_doc: dict[str, set[str]] = {}
    for chunk, doc_id in owners.items():
        by_doc.setdefault(doc_id, set()).add(chunk)
    for doc_id in sorted(set(records) | set(by_doc)):
        report.problems += _check_document(records.get(doc_id), by_doc.get(doc_id, set()), doc_id)
    stale_indexes = []
    for index in store.derived:
        indexed = index.indexed_ids(name)
        if indexed != set(owners):
            missing, extra = len(set(owners) - indexed), len(indexed - set(owners))
            detail = f"{missing} chunks missing from it, {extra} it holds that are gone"
            report.problems.append(Disagreement("index_out_of_date", type(index).__name__, detail))
            stale_indexes.append(index)
    if repair and report.problems:
        for doc_id in sorted({p.subject for p in report.problems if p.kind != "index_out_of_date"}):
            _repair_document(store, name, doc_id)
        for index in stale_indexes:
            index.rebuild(name, store.iter_chunks(name))
        report.repaired = True
    for index in store.derived:
        if purge:
            index.erase_deleted(name)
        report.deleted_on_disk += index.deleted_on_disk(name)
    return report
