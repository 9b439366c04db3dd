"""The Chroma-backed store of Docent's chunks and its record of what is indexed.

Each Docent collection ``NAME`` is two Chroma collections:

- ``NAME``: the chunks (``hnsw:space=cosine``), with the embedding model and dimension
  that built it in its metadata;
- ``NAME--docs``: one small record per document (id = ``doc_id``, a dummy 1-dim vector,
  metadata: source, content hash, chunk version, chunk count, state, root, time), plus a
  revision record. Lookups by id stay cheap at any size, it works the same for embedded
  and server mode, and sharded ingest runs on several machines share it.

Write order per document, which makes any interruption recoverable by running the same
ingest again: record ``pending`` (new version) -> upsert the new chunks (deterministic
ids) -> delete the old chunks -> record ``done``. A ``pending`` record tells the next run
to look up that document's chunks by ``doc_id`` and remove what is not in the new set.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import chromadb
from chromadb.config import Settings as ChromaClientSettings

from retrieval.derived import ChangeEntry, DerivedIndex
from retrieval.errors import (
    ChromaUnavailable,
    CollectionNotFound,
    DocumentNotFound,
    EmbeddingModelMismatch,
    InvalidRequest,
)
from retrieval.settings import ChromaSettings
from retrieval.types import Chunk, Hit, Metadata

DOCS_SUFFIX = "--docs"
CHANGES_SUFFIX = "--changes.--docs"
"""The change log's collection: ends like a bookkeeping one, and no collection name ends in '.'."""
CHANGE_IDS_PER_ENTRY = 1000
TRIMMED_ID = "~trimmed"
REVISION_ID = "~revision"
_MODEL_KEY = "docent:embed_model"
_DIMENSION_KEY = "docent:dimension"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,62}[a-zA-Z0-9]$")
_DUMMY = [1.0]

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


def doc_id_for(source: str) -> str:
    """Stable id of a document: a short hash of its source path (``/``-separated)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def chunk_id(doc_id: str, version: str, index: int) -> str:
    """Deterministic chunk id; a changed document (new version) gets new ids."""
    return f"{doc_id}-{version}-{index:05d}"


def chunk_ids(doc_id: str, version: str, count: int) -> list[str]:
    return [chunk_id(doc_id, version, i) for i in range(count)]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def validate_collection_name(name: str) -> None:
    """Raise :class:`InvalidRequest` unless ``name`` can be a Docent collection."""
    if not _NAME.match(name) or ".." in name or name.endswith(DOCS_SUFFIX):
        raise InvalidRequest(
            f"Expected a collection name of 3-64 characters from [a-zA-Z0-9._-], starting "
            f"and ending with a letter or digit, without '..' or a {DOCS_SUFFIX!r} "
            f"ending; got {name!r}."
        )


@contextmanager
def _chroma_errors(where: str) -> Iterator[None]:
    """Turn a lost connection to a Chroma server into :class:`ChromaUnavailable`."""
    try:
        yield
    except ValueError as exc:
        if "connect" not in str(exc).lower():
            raise
        raise ChromaUnavailable(
            f"Chroma server at {where} is not answering. Start it (`chroma run --path DIR "
            "--host HOST --port PORT`), or unset DOCENT_CHROMA_HOST to use embedded Chroma."
        ) from exc
    except (ConnectionError, OSError) as exc:
        raise ChromaUnavailable(f"Chroma at {where} cannot be used: {exc}") from exc


def _client_settings() -> ChromaClientSettings:
    return ChromaClientSettings(anonymized_telemetry=False, allow_reset=False)


def _record_metadata(record: DocumentRecord) -> dict[str, str | int]:
    meta = asdict(record)
    meta.pop("doc_id")
    return meta


def _record_from(doc_id: str, meta: Mapping[str, Any]) -> DocumentRecord:
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


class ChunkStore:
    """Chroma-backed chunks of all Docent collections, plus the record of what is indexed.

    Methods are synchronous (Chroma's client is); call them with ``asyncio.to_thread``
    from async code.
    """

    def __init__(self, client: Any, where: str, persist_dir: Path | None = None) -> None:
        self._client = client
        self.where = where
        """Where the data lives, for messages (a path or ``host:port``)."""
        self.persist_dir = persist_dir
        """Embedded Chroma's folder; None for a Chroma server or an in-memory store."""
        self._derived: list[DerivedIndex] = []

    def subscribe(self, index: DerivedIndex) -> None:
        """Keep ``index`` current: it is told of every chunk write and delete from now on."""
        self._derived.append(index)

    @classmethod
    def from_settings(cls, settings: ChromaSettings) -> ChunkStore:
        """Embedded Chroma at ``settings.path``, or the Chroma server at host/port if set.

        Raises:
            ChromaUnavailable: the server does not answer or the folder is unusable.
        """
        if settings.is_server:
            where = f"{settings.host}:{settings.port}"
            with _chroma_errors(where):
                client = chromadb.HttpClient(
                    host=settings.host or "",
                    port=settings.port,
                    ssl=settings.ssl,
                    settings=_client_settings(),
                )
                client.heartbeat()
            return cls(client, where)
        path = Path(settings.path).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=_client_settings())
        except Exception as exc:
            raise ChromaUnavailable(
                f"Cannot open embedded Chroma at {path}: {exc}. Set DOCENT_CHROMA_PATH to a "
                "writable folder, or DOCENT_CHROMA_HOST to use a Chroma server."
            ) from exc
        return cls(client, str(path), persist_dir=path)

    @classmethod
    def ephemeral(cls) -> ChunkStore:
        """An in-memory store, isolated from every other store in the process (tests)."""
        database = f"docent_{uuid.uuid4().hex}"
        chromadb.AdminClient(_client_settings()).create_database(database)
        client = chromadb.EphemeralClient(settings=_client_settings(), database=database)
        return cls(client, f"memory:{database}")

    # -- collections ---------------------------------------------------------------------

    def _chunks(self, name: str) -> Any:
        validate_collection_name(name)
        with _chroma_errors(self.where):
            try:
                return self._client.get_collection(name, embedding_function=None)
            except chromadb.errors.NotFoundError as exc:
                raise CollectionNotFound(name) from exc

    def _docs(self, name: str) -> Any:
        with _chroma_errors(self.where):
            return self._client.get_or_create_collection(
                name + DOCS_SUFFIX, embedding_function=None, metadata={"docent:kind": "docs"}
            )

    def _info(self, name: str, chunks: Any) -> CollectionInfo:
        meta = chunks.metadata or {}
        with _chroma_errors(self.where):
            docs = self._docs(name)
            doc_count = docs.count() - len(docs.get(ids=[REVISION_ID], include=[])["ids"])
            return CollectionInfo(
                name=name,
                embed_model=str(meta.get(_MODEL_KEY, "")),
                dimension=int(meta.get(_DIMENSION_KEY, 0)),
                chunk_count=chunks.count(),
                document_count=doc_count,
            )

    def list_collections(self) -> list[CollectionInfo]:
        """Docent collections (bookkeeping collections hidden), sorted by name."""
        with _chroma_errors(self.where):
            names = sorted(c.name for c in self._client.list_collections())
        return [
            self.get_collection(n)
            for n in names
            if not n.endswith(DOCS_SUFFIX) and _NAME.match(n) and ".." not in n
        ]

    def get_collection(self, name: str) -> CollectionInfo:
        return self._info(name, self._chunks(name))

    def ensure_collection(self, name: str, embed_model: str, dimension: int) -> CollectionInfo:
        """Create the collection, or check that ``embed_model`` built it.

        Raises:
            InvalidRequest: a bad name, or the same model now gives another dimension.
            EmbeddingModelMismatch: another model built the collection.
        """
        validate_collection_name(name)
        with _chroma_errors(self.where):
            chunks = self._client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={_MODEL_KEY: embed_model, _DIMENSION_KEY: dimension},
            )
        info = self._info(name, chunks)
        if info.embed_model != embed_model:
            raise EmbeddingModelMismatch(name, info.embed_model, embed_model)
        if info.dimension != dimension:
            raise InvalidRequest(
                f"Collection {name!r} holds {info.dimension}-dimensional vectors but "
                f"{embed_model!r} now gives {dimension}. Rebuild it with --reindex."
            )
        return info

    def check_embed_model(self, name: str, embed_model: str) -> CollectionInfo:
        info = self.get_collection(name)
        if info.embed_model != embed_model:
            raise EmbeddingModelMismatch(name, info.embed_model, embed_model)
        return info

    def delete_collection(self, name: str) -> None:
        self._chunks(name)
        with _chroma_errors(self.where):
            self._client.delete_collection(name)
            with suppress(chromadb.errors.NotFoundError):
                self._client.delete_collection(name + DOCS_SUFFIX)
        for index in self._derived:
            index.collection_dropped(name)

    # -- reading -------------------------------------------------------------------------

    def query(
        self,
        name: str,
        embedding: Sequence[float],
        k: int,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Dense search; ``Hit.score`` is the cosine similarity."""
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            result = chunks.query(
                query_embeddings=[list(embedding)],
                n_results=k,
                where=dict(where) if where else None,
                include=["documents", "metadatas", "distances"],
            )
        ids = result["ids"][0]
        texts = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            Hit(id=i, text=t or "", score=1.0 - float(d), metadata=dict(m or {}))
            for i, t, m, d in zip(ids, texts, metas, distances, strict=True)
        ]

    def get_chunks(self, name: str, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids that exist, in the order asked."""
        if not ids:
            return []
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            result = chunks.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            i: Chunk(id=i, text=t or "", metadata=dict(m or {}))
            for i, t, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        }
        return [found[i] for i in ids if i in found]

    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (no payload fetched)."""
        if not ids:
            return set()
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            return set(chunks.get(ids=list(ids), include=[])["ids"])

    def iter_chunks(self, name: str, batch_size: int = 1000) -> Iterator[Chunk]:
        """Every chunk (text and metadata), in pages of ``batch_size``."""
        chunks = self._chunks(name)
        offset = 0
        while True:
            with _chroma_errors(self.where):
                page = chunks.get(
                    include=["documents", "metadatas"], limit=batch_size, offset=offset
                )
            for i, t, m in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                yield Chunk(id=i, text=t or "", metadata=dict(m or {}))
            if len(page["ids"]) < batch_size:
                return
            offset += batch_size

    def revision(self, name: str) -> str:
        """A token that changes whenever the collection's chunks change."""
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            got = self._docs(name).get(ids=[REVISION_ID], include=["metadatas"])
        token = str(got["metadatas"][0].get("token", "")) if got["ids"] else "0"
        return f"{chunks.id}:{token}"

    def list_documents(self, name: str) -> list[DocumentRecord]:
        """Records of the documents in the collection, sorted by source."""
        self._chunks(name)
        with _chroma_errors(self.where):
            got = self._docs(name).get(include=["metadatas"])
        records = [
            _record_from(i, m or {})
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
            if i != REVISION_ID
        ]
        return sorted(records, key=lambda r: r.source)

    def get_records(self, name: str, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """Records of these documents, by ``doc_id`` (absent ones left out)."""
        if not doc_ids:
            return {}
        with _chroma_errors(self.where):
            got = self._docs(name).get(ids=list(dict.fromkeys(doc_ids)), include=["metadatas"])
        return {
            i: _record_from(i, m or {}) for i, m in zip(got["ids"], got["metadatas"], strict=True)
        }

    def chunk_ids_of(self, name: str, doc_id: str) -> list[str]:
        """Every stored chunk id of a document (a metadata lookup: the slow, rare path)."""
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            return list(chunks.get(where={"doc_id": doc_id}, include=[])["ids"])

    # -- writing -------------------------------------------------------------------------

    def _bump(self, name: str) -> None:
        with _chroma_errors(self.where):
            self._docs(name).upsert(
                ids=[REVISION_ID],
                embeddings=[_DUMMY],
                metadatas=[{"token": uuid.uuid4().hex, "at": utc_now()}],
            )

    def put_records(self, name: str, records: Sequence[DocumentRecord]) -> None:
        """Write (insert or replace) document records."""
        if not records:
            return
        with _chroma_errors(self.where):
            self._docs(name).upsert(
                ids=[r.doc_id for r in records],
                embeddings=[_DUMMY] * len(records),
                metadatas=[_record_metadata(r) for r in records],
            )

    def upsert_chunks(
        self,
        name: str,
        chunks: Sequence[Chunk],
        embeddings: Sequence[Sequence[float]],
        batch_size: int = 128,
    ) -> None:
        """Write chunks with their vectors, ``batch_size`` records per Chroma call."""
        if len(chunks) != len(embeddings):
            raise InvalidRequest(
                f"Expected one embedding per chunk, got {len(embeddings)} for {len(chunks)}."
            )
        if not chunks:
            return
        collection = self._chunks(name)
        for start in range(0, len(chunks), batch_size):
            part = chunks[start : start + batch_size]
            with _chroma_errors(self.where):
                collection.upsert(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[dict(c.metadata) for c in part],
                    embeddings=[list(e) for e in embeddings[start : start + batch_size]],
                )
        for index in self._derived:
            index.chunks_written(name, chunks)
        self._bump(name)

    def delete_chunks(self, name: str, ids: Sequence[str], batch_size: int = 1000) -> None:
        """Remove chunks by id (absent ids are ignored)."""
        if not ids:
            return
        collection = self._chunks(name)
        for start in range(0, len(ids), batch_size):
            with _chroma_errors(self.where):
                collection.delete(ids=list(ids[start : start + batch_size]))
        for index in self._derived:
            index.chunks_deleted(name, ids)
        self._bump(name)

    def delete_records(self, name: str, doc_ids: Sequence[str]) -> None:
        if doc_ids:
            with _chroma_errors(self.where):
                self._docs(name).delete(ids=list(doc_ids))

    def delete_document(self, name: str, doc_id: str) -> int:
        """Remove a document's chunks and its record; returns the chunks removed.

        Raises:
            DocumentNotFound: no such document in the collection.
        """
        records = self.get_records(name, [doc_id])
        ids = self.chunk_ids_of(name, doc_id)
        if doc_id not in records and not ids:
            raise DocumentNotFound(f"Document {doc_id!r} is not in collection {name!r}.")
        self.delete_chunks(name, ids)
        self.delete_records(name, [doc_id])
        self._bump(name)
        return len(ids)

    # -- for derived indexes: change log, cheap counts, id walks, source -> chunk ids ----

    def _changes(self, name: str) -> Any:
        with _chroma_errors(self.where):
            return self._client.get_or_create_collection(
                name + CHANGES_SUFFIX, embedding_function=None, metadata={"docent:kind": "log"}
            )

    def append_change(self, name: str, ids: Sequence[str]) -> list[str]:
        """Append change-log entries naming ``ids`` (chunks just written or deleted).

        Returns:
            The entry ids, so their writer can recognise its own entries.
        """
        entries: list[str] = []
        for start in range(0, len(ids), CHANGE_IDS_PER_ENTRY):
            at = time.time_ns()
            entry = f"{at:020d}-{uuid.uuid4().hex[:12]}"
            part = list(ids[start : start + CHANGE_IDS_PER_ENTRY])
            with _chroma_errors(self.where):
                self._changes(name).add(
                    ids=[entry],
                    embeddings=[_DUMMY],
                    metadatas=[{"at": at, "ids": json.dumps(part)}],
                )
            entries.append(entry)
        return entries

    def changes_since(self, name: str, after_ns: int) -> list[ChangeEntry]:
        """Change-log entries written after ``after_ns`` (writer clock), oldest first."""
        with _chroma_errors(self.where):
            got = self._changes(name).get(where={"at": {"$gt": after_ns}}, include=["metadatas"])
        entries = [
            ChangeEntry(id=i, at=int(m["at"]), ids=tuple(json.loads(str(m["ids"]))))
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
            if m
        ]
        return sorted(entries, key=lambda e: (e.at, e.id))

    def trim_changes(self, name: str, before_ns: int) -> None:
        """Delete change-log entries written before ``before_ns``, and remember that mark."""
        with _chroma_errors(self.where):
            log = self._changes(name)
            log.delete(where={"at": {"$lt": before_ns}})
            log.upsert(ids=[TRIMMED_ID], embeddings=[_DUMMY], metadatas=[{"before": before_ns}])

    def changes_trimmed_before(self, name: str) -> int:
        """Entries before this time (ns) may have been trimmed from the log (0: none were)."""
        with _chroma_errors(self.where):
            got = self._changes(name).get(ids=[TRIMMED_ID], include=["metadatas"])
        return int(got["metadatas"][0].get("before", 0)) if got["ids"] else 0

    def drop_changes(self, name: str) -> None:
        """Delete a collection's change log (with the collection)."""
        with _chroma_errors(self.where), suppress(chromadb.errors.NotFoundError, ValueError):
            self._client.delete_collection(name + CHANGES_SUFFIX)

    def collection_id(self, name: str) -> str:
        """Chroma's id of the collection; a dropped and recreated collection gets a new one."""
        return str(self._chunks(name).id)

    def chunk_count(self, name: str) -> int:
        """How many chunks the collection holds (no scan)."""
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            return int(chunks.count())

    def iter_ids(self, name: str, batch_size: int = 10_000) -> Iterator[str]:
        """Every chunk id, in pages (no texts, metadata or vectors fetched)."""
        chunks = self._chunks(name)
        offset = 0
        while True:
            with _chroma_errors(self.where):
                page = chunks.get(include=[], limit=batch_size, offset=offset)
            yield from page["ids"]
            if len(page["ids"]) < batch_size:
                return
            offset += batch_size

    def source_chunk_ids(self, name: str, source: str) -> list[str] | None:
        """The chunk ids of the document at ``source``, from its record (lookups by id).

        None when the record cannot say (no record, or a document being re-ingested): ask
        Chroma's metadata then.
        """
        record = self.get_records(name, [doc_id_for(source)]).get(doc_id_for(source))
        if record is None or record.source != source:
            return None
        if record.state != "done" or not record.version:
            return None
        return chunk_ids(record.doc_id, record.version, record.chunk_count)

    def get_with_embeddings(self, name: str, ids: Sequence[str]) -> list[tuple[Chunk, list[float]]]:
        """The chunks with these ids that exist, each with its vector (lookups by id)."""
        if not ids:
            return []
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            got = chunks.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        rows = zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True)
        return [
            (Chunk(id=i, text=t or "", metadata=dict(m or {})), [float(x) for x in e])
            for i, t, m, e in rows
        ]


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
) -> Metadata:
    """The metadata every stored chunk carries (see :class:`retrieval.types.Chunk`)."""
    return {
        "source": source,
        "doc_id": doc_id,
        "page": page,
        "chunk_index": chunk_index,
        "start": start,
        "end": end,
        "doc_hash": doc_hash,
        "embed_model": embed_model,
    }
