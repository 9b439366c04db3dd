"""The ingest pipeline: hash check -> read (isolated) -> batch embed -> write -> record.

Three stages run at once: files are read and split in worker processes, chunks of
several documents are embedded together (full batches, spread over the Ollama hosts),
and the previous wave is written to Chroma meanwhile. Per document the store's write
order (record pending -> chunks -> stale chunks removed -> record done) makes any
interruption recoverable by running the same ingest again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypeVar

from ingest.chunking import ChunkingPlan, chunk_version, content_hash, plan_chunking
from ingest.reading import ReadOutcome
from ingest.results import FileFailure, FileResult, IngestReport
from ingest.sources import Discovery, Shard, SourceFile
from retrieval.errors import CollectionNotFound, OllamaFailed
from retrieval.settings import Settings
from retrieval.store import (
    ChunkStore,
    DocumentRecord,
    chunk_id,
    chunk_ids,
    chunk_metadata,
    doc_id_for,
    utc_now,
)
from retrieval.types import Chunk, Embedder

log = logging.getLogger(__name__)

T = TypeVar("T")
RECORD_LOOKUP_BATCH = 500
WAVE_WAIT_SECONDS = 0.2


class FileReader(Protocol):
    """Reads and splits one file (see ``IsolatedReader`` and ``InProcessReader``)."""

    def read(self, name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome: ...

    def close(self) -> None: ...


class Progress:
    """Callbacks of a run; the default does nothing. The CLI renders them."""

    def started(self, files: int) -> None:
        """The run knows how many files it has."""

    def file_done(self, result: FileResult) -> None:
        """A file is finished (any status)."""

    def embedded(self, chunks: int) -> None:
        """``chunks`` more chunks were embedded."""


@dataclass
class _Doc:
    """A document on its way through the stages."""

    file: SourceFile
    record: DocumentRecord
    previous: DocumentRecord | None
    chunks: list[Chunk]
    present: set[str] = field(default_factory=set)
    """Ids already stored (recovery of an interrupted run): not embedded again."""
    notes: tuple[str, ...] = ()
    vectors: dict[str, list[float]] = field(default_factory=dict)

    @property
    def missing(self) -> list[Chunk]:
        return [c for c in self.chunks if c.id not in self.present]


async def _first_error(*aws: Awaitable[None]) -> None:
    """Run ``aws`` together; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ingestor:
    """Ingests documents into one store with one embedder.

    Build it once (e.g. in the API's lifespan) and reuse it: its reader keeps worker
    processes alive between runs. Call :meth:`close` at the end.
    """

    def __init__(
        self,
        store: ChunkStore,
        embedder: Embedder,
        settings: Settings,
        *,
        reader: FileReader | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        if reader is None:
            from ingest.isolation import IsolatedReader
            from ingest.ocr import OcrOptions

            reader = IsolatedReader(
                settings.ingest.workers,
                settings.ingest.file_timeout_seconds,
                settings.ingest.file_memory_mb,
                ocr=OcrOptions.from_settings(settings.ingest),
            )
        self.reader: FileReader = reader

    def close(self) -> None:
        self.reader.close()

    async def ingest(
        self,
        files: Sequence[SourceFile] | Discovery,
        *,
        collection: str = "default",
        sync: bool = False,
        reindex: bool = False,
        dry_run: bool = False,
        shard: Shard | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest ``files`` into ``collection``.

        Args:
            files: the documents, or a :class:`Discovery` (needed for ``sync``).
            collection: the Docent collection; created with the embedder's model.
            sync: also remove documents of the discovered folders that are gone.
            reindex: drop the whole collection first and rebuild it from ``files``.
            dry_run: report what would happen; nothing is read, embedded or written.
            shard: the shard this run is (limits what ``sync`` may remove).
            progress: callbacks for a progress display.

        Returns:
            Per-file results and totals. Files that fail are reported, never raised.

        Raises:
            EmbeddingModelMismatch: another model built the collection (and no reindex).
            OllamaUnavailable, OllamaModelMissing, ChromaUnavailable: cannot run at all.
        """
        run = _Run(self, collection, progress or Progress(), dry_run)
        discovery = files if isinstance(files, Discovery) else Discovery(files=list(files))
        started = time.perf_counter()
        calls_before = getattr(self.embedder, "calls", 0)
        run.progress.started(len(discovery.files))
        for skipped in discovery.skipped:
            run.finish(skipped)
        await run.prepare_collection(reindex)
        await run.process(discovery.files)
        if sync:
            await run.sync(discovery, shard)
        report = run.report
        report.results.sort(key=lambda r: (r.status, r.source))
        report.embedding_calls = getattr(self.embedder, "calls", 0) - calls_before
        report.seconds = time.perf_counter() - started
        return report


class _Run:
    """State of one ingest run."""

    def __init__(self, owner: Ingestor, collection: str, progress: Progress, dry: bool) -> None:
        self.store = owner.store
        self.embedder = owner.embedder
        self.reader = owner.reader
        self.settings = owner.settings
        self.collection = collection
        self.progress = progress
        self.dry_run = dry
        self.report = IngestReport(dry_run=dry)
        self.plan: ChunkingPlan | None = None
        self.exists = False

    def finish(self, result: FileResult) -> None:
        self.report.results.append(result)
        self.progress.file_done(result)

    async def prepare_collection(self, reindex: bool) -> None:
        info = await self.embedder.info()
        self.plan = plan_chunking(self.settings.chunking, info)
        try:
            existing = await asyncio.to_thread(self.store.get_collection, self.collection)
            self.exists = True
        except CollectionNotFound:
            existing = None
        if existing is not None and reindex:
            if self.dry_run:
                # the rebuild would embed every file again: plan them all
                self.exists = False
                return
            await asyncio.to_thread(self.store.delete_collection, self.collection)
            existing, self.exists = None, False
        if existing is not None:
            if not reindex:
                await asyncio.to_thread(
                    self.store.check_embed_model, self.collection, self.embedder.model
                )
            return
        if self.dry_run:
            return
        dimension = info.embedding_length or len(await self.embedder.embed_query("dimension"))
        await asyncio.to_thread(
            self.store.ensure_collection, self.collection, self.embedder.model, dimension
        )
        self.exists = True

    async def _records(self, files: Sequence[SourceFile]) -> dict[str, DocumentRecord]:
        if not self.exists:
            return {}
        ids = [doc_id_for(f.source) for f in files]
        records: dict[str, DocumentRecord] = {}
        for part in _batches(ids, RECORD_LOOKUP_BATCH):
            records.update(await asyncio.to_thread(self.store.get_records, self.collection, part))
        return records

    # -- stage 1: hash check and reading -----------------------------------------------

    async def _prepare(self, file: SourceFile, previous: DocumentRecord | None) -> _Doc | None:
        """Hash, skip if unchanged, else read and split; None when the file is finished."""
        assert self.plan is not None
        limit = self.settings.ingest.max_file_mb
        try:
            size = await asyncio.to_thread(file.size)
            if size > limit * 1024 * 1024:
                raise FileFailure(
                    "too_large",
                    f"{size / 1024 / 1024:.1f} MB is over the {limit:g} MB limit "
                    "(DOCENT_INGEST_MAX_FILE_MB)",
                )
            data = await asyncio.to_thread(file.read_bytes)
        except FileFailure as exc:
            self._failed(file, exc)
            return None
        except OSError as exc:
            self._failed(file, FileFailure("unreadable", f"cannot be read: {exc.strerror}"))
            return None
        digest = content_hash(data)
        version = chunk_version(digest, self.plan)
        if previous and previous.state == "done" and previous.version == version:
            self.finish(
                FileResult(file.source, "unchanged", previous.chunk_count, path=_path(file))
            )
            return None
        if self.dry_run:
            self.finish(FileResult(file.source, "planned", path=_path(file)))
            return None
        try:
            outcome = await asyncio.to_thread(self.reader.read, file.source, data, self.plan)
        except FileFailure as exc:
            self._failed(file, exc)
            return None
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
        model = self.embedder.model
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
                    embed_model=model,
                    ocr=piece.page in outcome.ocr_pages,
                ),
            )
            for index, piece in enumerate(outcome.pieces)
        ]
        doc = _Doc(file, record, previous, chunks, notes=tuple(outcome.notes))
        if previous is not None and previous.state == "pending" and previous.version == version:
            ids = [c.id for c in chunks]
            doc.present = await asyncio.to_thread(self.store.existing_ids, self.collection, ids)
        return doc

    def _failed(self, file: SourceFile, exc: FileFailure) -> None:
        self.finish(
            FileResult(
                file.source, "failed", reason=exc.reason, message=exc.message, path=_path(file)
            )
        )

    async def _read_stage(
        self, files: Sequence[SourceFile], out: asyncio.Queue[_Doc | None]
    ) -> None:
        records = await self._records(files)
        pending = iter(files)

        async def worker() -> None:
            for file in pending:
                doc = await self._prepare(file, records.get(doc_id_for(file.source)))
                if doc is not None:
                    await out.put(doc)

        try:
            workers = max(1, self.settings.ingest.workers)
            await _first_error(*(worker() for _ in range(workers)))
        finally:
            await out.put(None)

    # -- stage 2: embedding in waves of several documents ------------------------------

    def _wave_size(self) -> int:
        return self.settings.ollama.embed_wave_size

    async def _embed_stage(
        self, inbox: asyncio.Queue[_Doc | None], out: asyncio.Queue[list[_Doc] | None]
    ) -> None:
        closed = False
        try:
            while not closed:
                first = await inbox.get()
                if first is None:
                    break
                wave, size = [first], len(first.missing)
                deadline = time.monotonic() + WAVE_WAIT_SECONDS
                while size < self._wave_size():
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(inbox.get(), timeout)
                    except TimeoutError:
                        break
                    if item is None:
                        closed = True
                        break
                    wave.append(item)
                    size += len(item.missing)
                await out.put(await self._embed_wave(wave))
        finally:
            await out.put(None)

    async def _embed_wave(self, wave: list[_Doc]) -> list[_Doc]:
        """Embed a wave; the documents that get an Ollama error fail, the rest go on.

        On an error the wave is embedded again one document at a time, to find which
        files Ollama refuses; a wave of one document simply fails that file.
        """
        try:
            await self._embed(wave)
        except OllamaFailed as exc:
            if len(wave) > 1:
                return [d for doc in wave for d in await self._embed_wave([doc])]
            message = f"the embedding model refused it: {exc.message}"
            self._failed(wave[0].file, FileFailure("embedding_failed", message))
            return []
        return wave

    async def _embed(self, wave: list[_Doc]) -> None:
        chunks = [c for doc in wave for c in doc.missing]
        vectors = await self.embedder.embed_documents([c.text for c in chunks])
        by_id = dict(zip((c.id for c in chunks), vectors, strict=True))
        for doc in wave:
            doc.vectors = {c.id: by_id[c.id] for c in doc.missing}
        self.progress.embedded(len(chunks))

    # -- stage 3: writing ----------------------------------------------------------------

    async def _write_stage(self, inbox: asyncio.Queue[list[_Doc] | None]) -> None:
        while (wave := await inbox.get()) is not None:
            if wave:
                await asyncio.to_thread(self._write_wave, wave)
                for doc in wave:
                    self.finish(
                        FileResult(
                            doc.file.source,
                            "ingested",
                            len(doc.chunks),
                            path=_path(doc.file),
                            notes=doc.notes,
                        )
                    )

    def _write_wave(self, wave: list[_Doc]) -> None:
        name, store = self.collection, self.store
        store.put_records(name, [doc.record for doc in wave])
        chunks = [c for doc in wave for c in doc.missing]
        vectors = [doc.vectors[c.id] for doc in wave for c in doc.missing]
        store.upsert_chunks(name, chunks, vectors, self.settings.chroma.write_batch_size)
        stale: list[str] = []
        for doc in wave:
            keep = {c.id for c in doc.chunks}
            old = doc.previous
            if old is None:
                candidates: list[str] = []
            elif old.state == "done":
                candidates = chunk_ids(old.doc_id, old.version, old.chunk_count)
            else:
                candidates = store.chunk_ids_of(name, doc.record.doc_id)
            stale.extend(i for i in candidates if i not in keep)
        removed = store.existing_ids(name, stale) if stale else set()
        store.delete_chunks(name, sorted(removed))
        store.put_records(name, [replace(doc.record, state="done") for doc in wave])
        self.report.chunks_added += len(chunks)
        self.report.chunks_removed += len(removed)

    async def process(self, files: Sequence[SourceFile]) -> None:
        docs: asyncio.Queue[_Doc | None] = asyncio.Queue(maxsize=4 * self.settings.ingest.workers)
        waves: asyncio.Queue[list[_Doc] | None] = asyncio.Queue(maxsize=1)
        await _first_error(
            self._read_stage(files, docs), self._embed_stage(docs, waves), self._write_stage(waves)
        )

    # -- sync ----------------------------------------------------------------------------

    async def sync(self, discovery: Discovery, shard: Shard | None) -> None:
        """Remove documents of the walked folders whose files are gone."""
        if not self.exists or not discovery.present:
            return
        records = await asyncio.to_thread(self.store.list_documents, self.collection)
        for record in records:
            present = discovery.present.get(record.root)
            if present is None or record.source in present:
                continue
            if shard is not None and not shard.owns(record.source):
                continue
            # not walked (e.g. --glob left it out, or hidden) is not gone
            if await asyncio.to_thread(_on_disk, record.root, record.source):
                continue
            removed = 0
            if not self.dry_run:
                removed = await asyncio.to_thread(
                    self.store.delete_document, self.collection, record.doc_id
                )
            self.report.chunks_removed += removed
            self.finish(
                FileResult(record.source, "removed", removed, path=f"{record.root}/{record.source}")
            )


def _on_disk(root: str, source: str) -> bool:
    return (Path(root) / source).is_file()


def _path(file: SourceFile) -> str:
    return str(file.path) if file.path is not None else file.source
