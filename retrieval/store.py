"""The Chroma-backed store of Docent's chunks and its record of what is indexed.

Each Docent collection ``NAME`` is two Chroma collections:

- ``NAME``: the chunks (``hnsw:space=cosine``), with the embedding model and dimension
  that built it in its metadata;
- ``NAME--docs``: one small record per document (id = ``doc_id``, a dummy 1-dim vector,
  metadata: source, content hash, chunk version, chunk count, state, root, time), plus a
  revision record. Lookups by id stay cheap at any size, it works the same for embedded
  and server mode, and sharded ingest runs on several machines share it.

The store keeps its own invariants; callers never sequence raw writes:

- :meth:`ChunkStore.write_documents` writes documents with their records. Per document,
  under its lock (:mod:`retrieval.locks`): record ``pending`` -> add the chunks not
  yet stored -> delete the stale chunks -> record ``done``. The stale chunks are looked
  up in Chroma inside the lock (the document's chunks whose ids are not in the new set),
  never taken from a record read earlier, so the last writer of a document always
  leaves exactly its own chunks. A chunk the caller expected to be stored that a
  concurrent delete removed is reported back (``vanished``), never silently missing.
  Any interruption leaves a ``pending`` record that the next run repairs.
- :meth:`ChunkStore.delete_document` takes the same lock: a delete that races a write
  ends with no record and no chunks, or after it with a consistent document.
- :meth:`ChunkStore.create_collection` fails if the collection exists (atomic in
  Chroma, no check-then-create); :meth:`ChunkStore.delete_collection` drops the
  chunks, the records and every derived index.
- :meth:`ChunkStore.rebuild` (``--reindex``) builds a new index beside the old one and
  switches only when the build succeeded; the old index serves until then.
- Derived indexes (:class:`retrieval.derived.DerivedIndex`, the lexical index) are
  told of every change after it reached Chroma.

Writes of one document are serialized across threads and processes of one machine by
file locks; embedded Chroma accepts one writing process at a time (the first write, or
``docent serve`` at start, claims it). Writers on several machines into one Chroma
server must partition the documents (``--shard I/N``): Chroma has no compare-and-swap.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import chromadb
import httpx
import platformdirs
from chromadb.config import Settings as ChromaClientSettings

from retrieval.derived import ChangeEntry, DerivedIndex, WriteListener
from retrieval.errors import (
    ChromaUnavailable,
    CollectionExists,
    CollectionNotFound,
    DocentError,
    DocumentNotFound,
    EmbeddingModelMismatch,
    InvalidRequest,
)
from retrieval.locks import StoreLocks, WriterClaim, process_label
from retrieval.record_cache import RECORD_CACHE_DIR, RecordCache
from retrieval.records import (
    CollectionInfo,
    DocumentRecord,
    DocumentState,
    DocumentWrite,
    WriteOutcome,
    chunk_id,
    chunk_ids,
    chunk_metadata,
    doc_id_for,
    record_from,
    record_metadata,
    utc_now,
    validate_doc_id,
)
from retrieval.settings import ChromaSettings
from retrieval.settled import forget_marks, write_mark
from retrieval.types import Chunk, Embedder, Hit
from retrieval.write_pacing import WritePacing

__all__ = [  # the records are re-exported: callers know one module, the store
    "ChunkReader",
    "ChunkStore",
    "CollectionInfo",
    "DocumentRecord",
    "DocumentState",
    "DocumentWrite",
    "Rebuild",
    "WriteOutcome",
    "chunk_id",
    "chunk_ids",
    "chunk_metadata",
    "doc_id_for",
    "embedding_dimension",
    "probe_dimension",
    "utc_now",
    "validate_collection_name",
    "validate_doc_id",
]

logger = logging.getLogger(__name__)

DOCS_SUFFIX = "--docs"
REBUILD_SUFFIX = "--rebuild"
CHANGES_SUFFIX = "--changes.--docs"
"""The change log's collection: ends like a bookkeeping one, and no collection name ends in '.'."""
CHANGE_IDS_PER_ENTRY = 1000
TRIMMED_ID = "~trimmed"
REVISION_ID = "~revision"
VERIFIED_ID = "~verified"
"""The revision token at which every ``done`` record's chunks were last seen all stored."""
_SPECIAL_RECORDS = (REVISION_ID, VERIFIED_ID)
_MODEL_KEY = "docent:embed_model"
_DIMENSION_KEY = "docent:dimension"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,62}[a-zA-Z0-9]$")
_DUMMY = [1.0]
_ID_LOOKUP_BATCH = 5000
RECORD_CACHE_FROM = 100
"""Record lookups of this many documents or more go through the :class:`RecordCache`."""
_PROBE = "Docent checks that this model can embed text."


def validate_collection_name(name: str) -> None:
    """Raise :class:`InvalidRequest` unless ``name`` can be a Docent collection."""
    if (
        not _NAME.match(name)
        or ".." in name
        or name.endswith(DOCS_SUFFIX)
        or name.endswith(REBUILD_SUFFIX)
    ):
        raise InvalidRequest(
            f"Expected a collection name of 3-64 characters from [a-zA-Z0-9._-], starting "
            f"and ending with a letter or digit, without '..' or a {DOCS_SUFFIX!r} or "
            f"{REBUILD_SUFFIX!r} ending; got {name!r}."
        )


def _validate_stored_name(name: str) -> None:
    """A collection name, or the staging name of its rebuild."""
    validate_collection_name(name.removesuffix(REBUILD_SUFFIX))


async def probe_dimension(embedder: Embedder) -> int:
    """Embed a probe text: proves the model embeds, and gives its vector size.

    Raises:
        OllamaFailed, OllamaUnavailable, OllamaModelMissing: the model cannot embed.
    """
    return len(await embedder.embed_query(_PROBE))


async def embedding_dimension(embedder: Embedder) -> int:
    """The embedder's vector size: from ``/api/show`` when it says, else by a probe."""
    info = await embedder.info()
    return info.embedding_length or await probe_dimension(embedder)


@contextmanager
def _chroma_errors(where: str) -> Iterator[None]:
    """Turn a lost connection to a Chroma server into :class:`ChromaUnavailable`."""
    try:
        yield
    except (ValueError, httpx.TransportError) as exc:
        # chromadb raises httpx's transport error, or a bare ValueError while handling it
        if not isinstance(exc, httpx.TransportError) and not isinstance(
            exc.__context__, httpx.TransportError
        ):
            raise
        raise ChromaUnavailable(
            f"Chroma server at {where} is not answering. Start it (`chroma run --path DIR "
            "--host HOST --port PORT`), or unset DOCENT_CHROMA_HOST to use embedded Chroma."
        ) from exc
    except (ConnectionError, OSError) as exc:
        raise ChromaUnavailable(f"Chroma at {where} cannot be used: {exc}") from exc


def _client_settings() -> ChromaClientSettings:
    return ChromaClientSettings(anonymized_telemetry=False, allow_reset=False)


def _server_lock_dir(settings: ChromaSettings) -> Path:
    if settings.lock_path is not None:
        return Path(settings.lock_path).expanduser()
    base = Path(platformdirs.user_data_dir("docent")) / "locks"
    return base / f"{settings.host}-{settings.port}"


class ChunkReader:
    """Reads of one chunk collection through a single lookup of it.

    Looking a collection up is a Chroma call of its own (about 0.5 ms at any size); a
    hybrid search made three. Get one from :meth:`ChunkStore.reader` for the reads of one
    request: a collection dropped meanwhile fails its reads, as it would between two
    lookups.
    """

    def __init__(self, name: str, collection: Any, where: str) -> None:
        self.name = name
        self._collection = collection
        self._where = where

    @property
    def built_with(self) -> str:
        """The embedding model that built the collection."""
        return str((self._collection.metadata or {}).get(_MODEL_KEY, ""))

    def check_model(self, embed_model: str) -> None:
        """Raise :class:`EmbeddingModelMismatch` unless ``embed_model`` built the collection."""
        if self.built_with != embed_model:
            raise EmbeddingModelMismatch(self.name, self.built_with, embed_model)

    def query(
        self, embedding: Sequence[float], k: int, where: Mapping[str, Any] | None = None
    ) -> list[Hit]:
        """Dense search; ``Hit.score`` is the cosine similarity."""
        with _chroma_errors(self._where):
            result = self._collection.query(
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

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids that exist, in the order asked."""
        if not ids:
            return []
        with _chroma_errors(self._where):
            result = self._collection.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            i: Chunk(id=i, text=t or "", metadata=dict(m or {}))
            for i, t, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        }
        return [found[i] for i in ids if i in found]

    def get_with_embeddings(self, ids: Sequence[str]) -> list[tuple[Chunk, list[float]]]:
        """The chunks with these ids that exist, each with its vector (lookups by id)."""
        if not ids:
            return []
        with _chroma_errors(self._where):
            got = self._collection.get(
                ids=list(ids), include=["documents", "metadatas", "embeddings"]
            )
        rows = zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True)
        return [
            (Chunk(id=i, text=t or "", metadata=dict(m or {})), [float(x) for x in e])
            for i, t, m, e in rows
        ]


class ChunkStore:
    """Chroma-backed chunks of all Docent collections, plus the record of what is indexed.

    Methods are synchronous (Chroma's client is) and may block on a write lock; call
    them with ``asyncio.to_thread`` from async code.

    Args:
        client: a Chroma client.
        where: where the data lives, for messages.
        persist_dir: embedded Chroma's folder (its write claim and locks live there).
        lock_dir: the folder of write locks; default: ``persist_dir/locks``, or a
            private temporary folder (in-memory stores).

    Large record lookups are served from a :class:`~retrieval.record_cache.RecordCache`
    while the collection's revision is the one they were read at; it is kept on disk
    beside the data (``persist_dir/docent-records``, or in ``lock_dir`` for a server),
    and written by :meth:`close`.
    """

    def __init__(
        self,
        client: Any,
        where: str,
        persist_dir: Path | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        self._client = client
        self.where = where
        """Where the data lives, for messages (a path or ``host:port``)."""
        self.persist_dir = persist_dir
        """Embedded Chroma's folder; None for a Chroma server or an in-memory store."""
        cache_dir = None
        if persist_dir is not None:
            cache_dir = persist_dir / RECORD_CACHE_DIR
        elif lock_dir is not None:
            cache_dir = lock_dir / RECORD_CACHE_DIR
        self._record_cache = RecordCache(cache_dir)
        if lock_dir is None:
            lock_dir = (
                persist_dir / "locks"
                if persist_dir is not None
                else Path(tempfile.mkdtemp(prefix="docent-locks-"))
            )
        self.locks = StoreLocks(lock_dir)
        self._claim = WriterClaim(persist_dir) if persist_dir is not None else None
        self._forgotten_marks = False
        if self._claim is not None:
            weakref.finalize(self, self._claim.release)
        self._listeners: list[WriteListener] = []

    def subscribe(self, index: WriteListener) -> None:
        """Keep ``index`` current: it is told of every chunk write and delete from now on."""
        self._listeners.append(index)

    @property
    def derived(self) -> tuple[DerivedIndex, ...]:
        """The derived indexes kept current by this store (``docent check`` verifies them)."""
        return tuple(i for i in self._listeners if isinstance(i, DerivedIndex))

    def claim_writer(self, label: str | None = None) -> None:
        """Claim embedded Chroma for this process now (``docent serve`` does at start).

        Without it, the first write claims it. No-op for a Chroma server.

        Raises:
            StoreLocked: another process writes to this folder.
        """
        if self._claim is not None:
            self._claim.acquire(label or process_label())

    def close(self) -> None:
        """Save the record cache; mark what is settled; release the claim (reads still work).

        A collection whose records were looked up through the cache and are all known
        complete at the current revision gets a settled mark (:mod:`retrieval.settled`):
        the next unchanged re-ingest reads it instead of opening Chroma. Only a process
        that holds the claim marks: no other process writes while it reads the revision.
        """
        self._record_cache.save()
        if self._claim is not None and self._claim.held:
            assert self.persist_dir is not None  # embedded: it has a claim
            self._mark_settled(self.persist_dir)
            self._claim.release()

    def _mark_settled(self, persist_dir: Path) -> None:
        """Mark the collections whose cached records are all known complete right now.

        Under the collection's lock, taken only if no write holds it: a write still
        running in a thread (a cancelled request's) could change the revision after
        it was read, within the database file's clock tick.
        """
        for name, key in self._record_cache.keys().items():
            try:
                validate_collection_name(name)  # not a rebuild's staging collection
                with self.locks.collection_idle(name):
                    token, verified = self.verification(name)
                    docs = self._docs(name)
                    if not verified or docs is None or key != self._revision_key(docs, token):
                        continue
                    write_mark(persist_dir, name, key, self.reader(name).built_with)
            except (DocentError, OSError) as exc:  # a mark only saves time
                logger.debug("event=settled_mark_skipped collection=%s error=%s", name, exc)
        self._forgotten_marks = False  # a write after this must forget them again

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
            return cls(client, where, lock_dir=_server_lock_dir(settings))
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

    def _writing(self) -> None:
        """Every write starts here: embedded Chroma takes one writing process.

        The settled marks of its folder are deleted before its first write.
        """
        if self._claim is not None and not self._claim.held:
            self._claim.acquire(process_label())
        if self.persist_dir is not None and not self._forgotten_marks:
            forget_marks(self.persist_dir)
            self._forgotten_marks = True

    def _changing(self, name: str) -> None:
        """Tell the subscribers that a change of ``name``'s chunks is about to be made."""
        for listener in self._listeners:
            listener.changing(name)

    # -- collections ---------------------------------------------------------------------

    def _chunks(self, name: str) -> Any:
        _validate_stored_name(name)
        with _chroma_errors(self.where):
            try:
                return self._client.get_collection(name, embedding_function=None)
            except chromadb.errors.NotFoundError as exc:
                raise CollectionNotFound(name) from exc

    def reader(self, name: str, *, embed_model: str | None = None) -> ChunkReader:
        """Reads of collection ``name`` with one lookup (see :class:`ChunkReader`).

        Raises:
            CollectionNotFound: no such collection.
            EmbeddingModelMismatch: ``embed_model`` is given and did not build it.
        """
        reader = ChunkReader(name, self._chunks(name), self.where)
        if embed_model is not None:
            reader.check_model(embed_model)
        return reader

    def _docs(self, name: str, *, create: bool = False) -> Any:
        """The bookkeeping collection; None when absent (it is only created by writes)."""
        with _chroma_errors(self.where):
            if create:
                return self._client.get_or_create_collection(
                    name + DOCS_SUFFIX,
                    embedding_function=None,
                    metadata={"docent:kind": "docs"},
                )
            try:
                return self._client.get_collection(name + DOCS_SUFFIX, embedding_function=None)
            except chromadb.errors.NotFoundError:
                return None

    def _info(self, name: str, chunks: Any) -> CollectionInfo:
        meta = chunks.metadata or {}
        with _chroma_errors(self.where):
            return CollectionInfo(
                name=name,
                embed_model=str(meta.get(_MODEL_KEY, "")),
                dimension=int(meta.get(_DIMENSION_KEY, 0)),
                chunk_count=chunks.count(),
                document_count=self.record_count(name),
            )

    def list_collections(self) -> list[CollectionInfo]:
        """Docent collections (bookkeeping and staging collections hidden), sorted by name."""
        with _chroma_errors(self.where):
            names = sorted(c.name for c in self._client.list_collections())
        infos = []
        for name in names:
            with suppress(InvalidRequest, CollectionNotFound):  # hidden, or dropped meanwhile
                validate_collection_name(name)
                infos.append(self.get_collection(name))
        return infos

    def get_collection(self, name: str) -> CollectionInfo:
        return self._info(name, self._chunks(name))

    def _new_collection(self, name: str, embed_model: str, dimension: int) -> Any:
        self._writing()
        with _chroma_errors(self.where):
            created = self._client.create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={_MODEL_KEY: embed_model, _DIMENSION_KEY: dimension},
            )
            self._docs(name, create=True)
            return created

    def create_collection(self, name: str, embed_model: str, dimension: int) -> CollectionInfo:
        """Create an empty collection; fails if it exists (Chroma's create is atomic).

        Raises:
            InvalidRequest: a bad name.
            CollectionExists: the collection exists already.
        """
        validate_collection_name(name)
        with self.locks.collection(name, exclusive=True):
            try:
                chunks = self._new_collection(name, embed_model, dimension)
            except chromadb.errors.ChromaError as exc:
                with suppress(CollectionNotFound):
                    self._chunks(name)
                    raise CollectionExists(
                        f"Collection {name!r} already exists. Upload documents to it, or "
                        "delete it first to start over."
                    ) from exc
                raise
            return self._info(name, chunks)

    def ensure_collection(self, name: str, embed_model: str, dimension: int) -> CollectionInfo:
        """Create the collection, or check that ``embed_model`` built it.

        Raises:
            InvalidRequest: a bad name, or the same model now gives another dimension.
            EmbeddingModelMismatch: another model built the collection.
        """
        validate_collection_name(name)
        self._writing()
        with _chroma_errors(self.where):
            chunks = self._client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={_MODEL_KEY: embed_model, _DIMENSION_KEY: dimension},
            )
            self._docs(name, create=True)
        info = self._info(name, chunks)
        if info.embed_model != embed_model:
            raise EmbeddingModelMismatch(name, info.embed_model, embed_model)
        if info.dimension != dimension:
            raise InvalidRequest(
                f"Collection {name!r} holds {info.dimension}-dimensional vectors but "
                f"{embed_model!r} now gives {dimension}. Rebuild it with --reindex."
            )
        return info

    def check_model(self, name: str, embed_model: str) -> None:
        """Raise unless ``embed_model`` built the collection (its metadata only: no count).

        Every search and every ingest calls it: counting a collection's chunks costs in
        proportion to its size (12 ms at 120k chunks), which they must not pay.

        Raises:
            CollectionNotFound: no such collection.
            EmbeddingModelMismatch: another model built the collection.
        """
        self._check_model(name, embed_model)

    def check_embed_model(self, name: str, embed_model: str) -> CollectionInfo:
        info = self.get_collection(name)
        if info.embed_model != embed_model:
            raise EmbeddingModelMismatch(name, info.embed_model, embed_model)
        return info

    def _drop(self, name: str) -> None:
        with _chroma_errors(self.where):
            for stored in (name, name + DOCS_SUFFIX):
                with suppress(chromadb.errors.NotFoundError):
                    self._client.delete_collection(stored)

    def delete_collection(self, name: str) -> None:
        """Drop the collection: its chunks, its records and every derived index of it.

        Raises:
            CollectionNotFound: no such collection.
        """
        self._chunks(name)
        self._writing()
        with self.locks.collection(name, exclusive=True):
            self._drop(name)
        for index in self._listeners:
            index.collection_dropped(name)

    def begin_rebuild(self, name: str, embed_model: str, dimension: int) -> Rebuild:
        """Start building a new index for ``name`` beside the old one (``--reindex``).

        Write into :attr:`Rebuild.staging`, then :meth:`Rebuild.commit` to switch, or
        :meth:`Rebuild.abandon` to drop the new index and keep the old one. Until then
        the collection's lock is held exclusively: document writes to it wait, reads go
        on against the old index.

        Raises:
            InvalidRequest: a bad name.
        """
        validate_collection_name(name)
        self._writing()
        return Rebuild(self, name, embed_model, dimension)

    def _switch(self, staging: str, name: str) -> None:
        self._drop(name)
        with _chroma_errors(self.where):
            self._client.get_collection(staging, embedding_function=None).modify(name=name)
            docs = self._docs(staging)
            if docs is not None:
                docs.modify(name=name + DOCS_SUFFIX)
        self._bump(name)
        for listener in self._listeners:
            listener.collection_dropped(staging)
        for index in self.derived:
            index.rebuild(name, self.iter_chunks(name))

    def _abandon(self, staging: str) -> None:
        self._drop(staging)
        for index in self._listeners:
            index.collection_dropped(staging)

    # -- reading -------------------------------------------------------------------------

    def query(
        self,
        name: str,
        embedding: Sequence[float],
        k: int,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Dense search; ``Hit.score`` is the cosine similarity."""
        return self.reader(name).query(embedding, k, where)

    def get_chunks(self, name: str, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids that exist, in the order asked."""
        return self.reader(name).get_chunks(ids) if ids else []

    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (no payload fetched)."""
        if not ids:
            return set()
        chunks = self._chunks(name)
        found: set[str] = set()
        for start in range(0, len(ids), _ID_LOOKUP_BATCH):
            with _chroma_errors(self.where):
                part = list(ids[start : start + _ID_LOOKUP_BATCH])
                found.update(chunks.get(ids=part, include=[])["ids"])
        return found

    def complete(self, name: str, records: Sequence[DocumentRecord]) -> set[str]:
        """The ``doc_id`` s of the records whose chunks are all stored (lookups by id)."""
        expected = {r.doc_id: chunk_ids(r.doc_id, r.version, r.chunk_count) for r in records}
        stored = self.existing_ids(name, [i for ids in expected.values() for i in ids])
        return {d for d, ids in expected.items() if all(i in stored for i in ids)}

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

    def chunk_owners(self, name: str, batch_size: int = 5000) -> dict[str, str]:
        """Every chunk id with its ``doc_id`` (metadata only: for ``docent check``)."""
        chunks = self._chunks(name)
        owners: dict[str, str] = {}
        offset = 0
        while True:
            with _chroma_errors(self.where):
                page = chunks.get(include=["metadatas"], limit=batch_size, offset=offset)
            for i, m in zip(page["ids"], page["metadatas"], strict=True):
                owners[i] = str((m or {}).get("doc_id", ""))
            if len(page["ids"]) < batch_size:
                return owners
            offset += batch_size

    def revision(self, name: str) -> str:
        """A token that changes whenever the collection's chunks change."""
        chunks = self._chunks(name)
        docs = self._docs(name)
        token = None if docs is None else self._revision_token(docs)
        return f"{chunks.id}:{'0' if token is None else token}"

    def list_documents(self, name: str) -> list[DocumentRecord]:
        """Records of the documents in the collection, sorted by source."""
        self._chunks(name)
        docs = self._docs(name)
        if docs is None:
            return []
        with _chroma_errors(self.where):
            got = docs.get(include=["metadatas"])
        records = [
            record_from(i, m or {})
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
            if i not in _SPECIAL_RECORDS
        ]
        return sorted(records, key=lambda r: r.source)

    def get_records(self, name: str, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """Records of these documents, by ``doc_id`` (absent ones left out).

        From :data:`RECORD_CACHE_FROM` documents on, the ``done`` records read at the
        collection's current revision are served from the record cache (the revision is
        read first: one small Chroma call), and only the others are read from Chroma.
        """
        docs = self._docs(name) if doc_ids else None
        if docs is None:
            return {}
        wanted = list(dict.fromkeys(doc_ids))
        key = self._revision_key(docs) if len(wanted) >= RECORD_CACHE_FROM else ""
        found, unknown = self._record_cache.lookup(name, key, wanted) if key else ({}, wanted)
        if not unknown:
            return found
        read = self._read_records(docs, unknown)
        if key:
            self._record_cache.remember(name, key, read)
        return found | read

    def _read_records(self, docs: Any, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        if not doc_ids:
            return {}
        with _chroma_errors(self.where):
            got = docs.get(ids=list(doc_ids), include=["metadatas"])
        return {
            i: record_from(i, m or {}) for i, m in zip(got["ids"], got["metadatas"], strict=True)
        }

    def settle(self, name: str, kept: Mapping[str, DocumentRecord], written: Sequence[str]) -> None:
        """Mark ``name`` verified, its records cached, after a run that wrote it alone.

        For ``docent ingest`` (:meth:`ingest.stages.RunContext.settle`): at its start the
        run found every record of the collection, every ``done`` one complete; it left
        ``kept`` as they were and wrote ``written`` through the write protocol, and
        nothing else wrote meanwhile. So every ``done`` record is complete now: the
        collection is verified at its current revision, and ``kept`` are cached there
        with ``written`` read back. The next unchanged run needs no chunk lookup, and
        (the store closed) reads none of it from Chroma (:mod:`retrieval.settled`).
        """
        docs = self._docs(name)
        token = self._revision_token(docs) if docs is not None else None
        if docs is None or not token:
            return
        key = self._revision_key(docs, token)
        self._record_cache.remember(name, key, kept)
        self._record_cache.remember(name, key, self._read_records(docs, written))
        self.mark_verified(name, token)

    def _revision_key(self, docs: Any, token: str | None = None) -> str:
        """The records collection's id and revision token ("": no revision written yet).

        ``token``: the token already read (else it is read now).
        """
        token = self._revision_token(docs) if token is None else token
        return f"{docs.id}:{token}" if token else ""

    def _revision_token(self, docs: Any) -> str | None:
        """The token of the records collection's revision row (None: no row yet)."""
        with _chroma_errors(self.where):
            got = docs.get(ids=[REVISION_ID], include=["metadatas"])
        return str(got["metadatas"][0].get("token", "")) if got["ids"] else None

    def record_count(self, name: str) -> int:
        """How many document records the collection holds (Chroma counts them: no rows read)."""
        docs = self._docs(name)
        if docs is None:
            return 0
        with _chroma_errors(self.where):
            special = docs.get(ids=list(_SPECIAL_RECORDS), include=[])["ids"]
            return int(docs.count()) - len(special)

    def verification(self, name: str) -> tuple[str, bool]:
        """The revision token now, and whether every ``done`` record is known complete at it.

        Known complete: a run saw all the ``done`` records' chunks stored at this token
        (:meth:`mark_verified`), and no write through the store has changed the token
        since. Every write that can remove chunks or change records changes the token, and
        a record set ``done`` without one had its chunks looked up under its lock.
        """
        docs = self._docs(name)
        if docs is None:
            return "", False
        with _chroma_errors(self.where):
            got = docs.get(ids=list(_SPECIAL_RECORDS), include=["metadatas"])
        meta = {i: m or {} for i, m in zip(got["ids"], got["metadatas"], strict=True)}
        token = str(meta.get(REVISION_ID, {}).get("token", ""))
        verified = str(meta.get(VERIFIED_ID, {}).get("revision", ""))
        return token, bool(token) and verified == token

    def mark_verified(self, name: str, token: str) -> None:
        """Remember that at revision ``token`` every ``done`` record's chunks were stored.

        The caller read ``token`` (:meth:`verification`) before it looked up the records
        and their chunks; any write since has changed the token, so the mark then says
        nothing.
        """
        if not token:
            return
        self._writing()
        docs = self._docs(name, create=True)
        with _chroma_errors(self.where):
            docs.upsert(
                ids=[VERIFIED_ID],
                embeddings=[_DUMMY],
                metadatas=[{"revision": token, "at": utc_now()}],
            )

    def chunk_ids_of(self, name: str, doc_id: str) -> list[str]:
        """Every stored chunk id of a document (a metadata lookup)."""
        return self._chunk_ids_by_doc(name, [doc_id]).get(doc_id, [])

    def _chunk_ids_by_doc(self, name: str, doc_ids: Sequence[str]) -> dict[str, list[str]]:
        if not doc_ids:
            return {}
        chunks = self._chunks(name)
        where = {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
        with _chroma_errors(self.where):
            got = chunks.get(where=where, include=["metadatas"])
        owned: dict[str, list[str]] = {}
        for i, m in zip(got["ids"], got["metadatas"], strict=True):
            owned.setdefault(str((m or {}).get("doc_id", "")), []).append(i)
        return owned

    # -- writing -------------------------------------------------------------------------

    def _bump(self, name: str) -> None:
        self._put_records(name, [], bump=True)

    def put_records(self, name: str, records: Sequence[DocumentRecord]) -> None:
        """Write (insert or replace) document records (``docent check --repair``)."""
        if not records:
            return
        self._writing()
        # a new revision: records written here were not looked up against their chunks
        self._put_records(name, records, bump=True)

    def _put_records(
        self,
        name: str,
        records: Sequence[DocumentRecord],
        *,
        bump: bool,
        pacing: WritePacing | None = None,
    ) -> None:
        """Write records and, with ``bump``, a new revision token (in the last call).

        ``pacing`` sizes the calls; without it, one call.
        """
        ids = [r.doc_id for r in records]
        metadatas: list[dict[str, Any]] = [record_metadata(r) for r in records]
        if bump:
            ids.append(REVISION_ID)
            metadatas.append(self._new_revision(name))
        if not ids:
            return
        docs = self._docs(name, create=True)
        start = 0
        while start < len(ids):
            end = start + (pacing.rows() if pacing is not None else len(ids))
            with _chroma_errors(self.where):
                docs.upsert(
                    ids=ids[start:end],
                    embeddings=[_DUMMY] * len(ids[start:end]),
                    metadatas=metadatas[start:end],
                )
            start = end

    def _new_revision(self, name: str) -> dict[str, Any]:
        """The revision row's metadata with a new token, for a write about to end.

        The record cache forgets ``name``: what it holds was read at the revision this
        write ends.
        """
        self._record_cache.forget(name)
        return {"token": uuid.uuid4().hex, "at": utc_now()}

    def _mark_done(
        self, name: str, doc_ids: Sequence[str], *, bump: bool, pacing: WritePacing
    ) -> None:
        """Set the ``pending`` records of ``doc_ids`` to ``done`` (and the revision).

        An update of one key: Chroma merges it into the record written ``pending`` under
        the same lock, at about half the cost of writing whole records again.
        """
        ids = list(doc_ids)
        metadatas: list[dict[str, Any]] = [{"state": "done"} for _ in ids]
        if bump:  # the row exists: the pending call wrote it
            ids.append(REVISION_ID)
            metadatas.append(self._new_revision(name))
        docs = self._docs(name, create=True)
        start = 0
        while start < len(ids):
            end = start + pacing.rows()
            with _chroma_errors(self.where):
                docs.update(ids=ids[start:end], metadatas=metadatas[start:end])
            start = end

    def upsert_chunks(
        self,
        name: str,
        chunks: Sequence[Chunk],
        embeddings: Sequence[Sequence[float]],
        batch_size: int = 128,
        *,
        bump: bool = True,
    ) -> None:
        """Write chunks with their vectors, ``batch_size`` records per Chroma call.

        A raw write that takes no lock and keeps no record: documents are written with
        :meth:`write_documents`. ``bump=False`` leaves the revision token to the caller
        (who must change it before releasing its locks).
        """
        if len(chunks) != len(embeddings):
            raise InvalidRequest(
                f"Expected one embedding per chunk, got {len(embeddings)} for {len(chunks)}."
            )
        if not chunks:
            return
        collection = self._chunks(name)
        self._writing()
        self._changing(name)
        for start in range(0, len(chunks), batch_size):
            part = chunks[start : start + batch_size]
            with _chroma_errors(self.where):
                collection.upsert(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[dict(c.metadata) for c in part],
                    embeddings=[list(e) for e in embeddings[start : start + batch_size]],
                )
        for index in self._listeners:
            index.chunks_written(name, chunks)
        if bump:
            self._bump(name)

    def delete_chunks(
        self, name: str, ids: Sequence[str], batch_size: int = 1000, *, bump: bool = True
    ) -> None:
        """Remove chunks by id (absent ids are ignored); a raw write, like upsert_chunks."""
        if not ids:
            return
        collection = self._chunks(name)
        self._writing()
        self._changing(name)
        for start in range(0, len(ids), batch_size):
            with _chroma_errors(self.where):
                collection.delete(ids=list(ids[start : start + batch_size]))
        for index in self._listeners:
            index.chunks_deleted(name, ids)
        if bump:
            self._bump(name)

    def delete_records(self, name: str, doc_ids: Sequence[str]) -> None:
        """Delete document records, with a new revision (the record cache relies on it)."""
        docs = self._docs(name) if doc_ids else None
        if docs is not None:
            self._writing()
            with _chroma_errors(self.where):
                docs.delete(ids=list(doc_ids))
            self._bump(name)

    def _check_model(self, name: str, embed_model: str) -> None:
        self.reader(name, embed_model=embed_model)

    def write_documents(
        self,
        name: str,
        docs: Sequence[DocumentWrite],
        *,
        embed_model: str,
        batch_size: int = 128,
        pacing: WritePacing | None = None,
    ) -> WriteOutcome:
        """Write documents with their records: the store's write protocol, under locks.

        The documents' locks are taken in ``doc_id`` order (no deadlock between writers),
        after the collection's shared lock. Then, for the documents whose expected chunks
        are all there: records ``pending`` -> look up the documents' stored chunks ->
        add the chunks not stored -> delete each document's other chunks -> records
        ``done``. The lookup runs inside the locks, so the chunks it finds absent stay
        absent until the write ends: they are *added* (cheaper than an upsert in Chroma),
        and chunks found stored are not written again (same id, same content).

        Args:
            name: the collection (or a rebuild's staging collection).
            docs: the documents; at most one per ``doc_id``.
            embed_model: the model of the vectors; must be the collection's.
            batch_size: rows per Chroma call (when no ``pacing`` is given).
            pacing: rows per Chroma call, learnt from the calls' durations (see
                :mod:`retrieval.write_pacing`); it is told how long each chunk call took.

        Returns:
            What was written, and the documents left out because chunks they expected
            to find were deleted meanwhile (``vanished``).

        Raises:
            InvalidRequest: two writes of one document.
            CollectionNotFound: the collection is gone.
            EmbeddingModelMismatch: the collection was rebuilt with another model.
            Busy: the collection is being rebuilt or dropped (waited too long).
        """
        outcome = WriteOutcome()
        if not docs:
            return outcome
        by_id = {d.record.doc_id: d for d in docs}
        if len(by_id) != len(docs):
            raise InvalidRequest("Expected at most one write per document, got repeats.")
        pacing = pacing or WritePacing.bulk(batch_size)
        self._writing()
        with ExitStack() as stack:
            stack.enter_context(self.locks.collection(name))
            for doc_id in sorted(by_id):
                stack.enter_context(self.locks.document(name, doc_id, shared_held=True))
            self._check_model(name, embed_model)
            ready = self._ready(name, list(by_id.values()), outcome)
            if not ready:
                return outcome
            # the revision row is (re)written here too, so the ``done`` call can update it
            self._put_records(name, [d.record for d in ready], bump=True, pacing=pacing)
            owned = self._chunk_ids_by_doc(name, [d.record.doc_id for d in ready])
            stored = {i for ids in owned.values() for i in ids}
            vectors = {i: v for d in ready for i, v in d.vectors.items()}
            new = [c for d in ready for c in d.chunks if c.id in vectors and c.id not in stored]
            self._add_chunks(name, new, [vectors[c.id] for c in new], pacing)
            keep = {c.id for d in ready for c in d.chunks}
            stale = sorted(stored - keep)
            self.delete_chunks(name, stale, pacing.rows(), bump=False)
            done = [replace(d.record, state="done") for d in ready]
            # the records and the new revision (readers see it before we unlock)
            self._mark_done(name, [r.doc_id for r in done], bump=bool(new or stale), pacing=pacing)
        outcome.written = [r.doc_id for r in done]
        outcome.chunks_added = len(new)
        outcome.chunks_removed = len(stale)
        return outcome

    def _add_chunks(
        self,
        name: str,
        chunks: Sequence[Chunk],
        embeddings: Sequence[Sequence[float]],
        pacing: WritePacing,
    ) -> None:
        """Add chunks known to be absent (looked up under their documents' locks)."""
        if not chunks:
            return
        collection = self._chunks(name)
        self._changing(name)
        start = 0
        while start < len(chunks):
            end = start + pacing.rows()
            part = chunks[start:end]
            began = time.perf_counter()
            with _chroma_errors(self.where):
                collection.add(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[dict(c.metadata) for c in part],
                    embeddings=[list(e) for e in embeddings[start:end]],
                )
            pacing.observed(len(part), time.perf_counter() - began)
            start = end
        for index in self._listeners:
            index.chunks_written(name, chunks)

    def _ready(
        self, name: str, docs: list[DocumentWrite], outcome: WriteOutcome
    ) -> list[DocumentWrite]:
        """The documents whose chunks without a vector are stored; the others are reported."""
        expected = [c.id for d in docs for c in d.chunks if c.id not in d.vectors]
        stored = self.existing_ids(name, expected)
        ready = []
        for doc in docs:
            gone = [c.id for c in doc.chunks if c.id not in doc.vectors and c.id not in stored]
            if gone:
                outcome.vanished[doc.record.doc_id] = gone
            else:
                ready.append(doc)
        return ready

    def delete_document(self, name: str, doc_id: str) -> int:
        """Remove a document's chunks and its record, under its lock; returns chunks removed.

        Raises:
            InvalidRequest: ``doc_id`` is not a document id.
            CollectionNotFound: no such collection (nothing is created).
            DocumentNotFound: no such document in the collection.
        """
        validate_doc_id(doc_id)
        self._chunks(name)
        with self.locks.document(name, doc_id):
            records = self.get_records(name, [doc_id])
            ids = self.chunk_ids_of(name, doc_id)
            if doc_id not in records and not ids:
                raise DocumentNotFound(f"Document {doc_id!r} is not in collection {name!r}.")
            self.delete_chunks(name, ids)
            self.delete_records(name, [doc_id])  # a new revision
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
        """How many chunks the collection holds (Chroma counts: 0.16 s at 1.27M chunks)."""
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

    def sample_embeddings(self, name: str, n: int, pages: int = 8) -> list[list[float]]:
        """About ``n`` stored vectors, read in ``pages`` pages spread over the collection.

        Cheap at any size (reads by offset, no id scan); for statistics, not for search.
        """
        chunks = self._chunks(name)
        with _chroma_errors(self.where):
            total = int(chunks.count())
        if total == 0:
            return []
        per_page = max(1, min(n, total) // pages)
        offsets = sorted({(total * i) // pages for i in range(pages)})
        vectors: list[list[float]] = []
        for offset in offsets:
            with _chroma_errors(self.where):
                got = chunks.get(include=["embeddings"], limit=per_page, offset=offset)
            embeddings = got["embeddings"]
            if embeddings is not None:
                vectors.extend([float(x) for x in e] for e in embeddings)
        return vectors

    def get_with_embeddings(self, name: str, ids: Sequence[str]) -> list[tuple[Chunk, list[float]]]:
        """The chunks with these ids that exist, each with its vector (lookups by id)."""
        return self.reader(name).get_with_embeddings(ids) if ids else []


class Rebuild:
    """A new index being built beside a collection's old one (see ``begin_rebuild``)."""

    def __init__(self, store: ChunkStore, name: str, embed_model: str, dimension: int) -> None:
        self.name = name
        self.staging = name + REBUILD_SUFFIX
        """The collection to write the new index into."""
        self._store = store
        self._lock = ExitStack()
        self._lock.enter_context(store.locks.collection(name, exclusive=True))
        try:
            store._drop(self.staging)
            store._new_collection(self.staging, embed_model, dimension)
        except BaseException:
            self._lock.close()
            raise

    def commit(self) -> None:
        """Replace the old index by the new one, and release the collection."""
        with self._lock:
            self._store._switch(self.staging, self.name)

    def abandon(self) -> None:
        """Drop the new index (the old one stays), and release the collection."""
        with self._lock:
            self._store._abandon(self.staging)
