"""The ingest pipeline: hash check -> read (isolated) -> batch embed -> write -> record.

Three stages run at once: files are read and split in worker processes, chunks of
several documents are embedded together (full batches, spread over the Ollama hosts),
and the previous wave is written to Chroma meanwhile, through the store's own write
protocol (:meth:`retrieval.store.ChunkStore.write_documents`: locked per document, any
interruption recoverable by running the same ingest again). A document is ``unchanged``
only when its record is ``done`` for the same content *and* all its chunks are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from ingest.chunking import ChunkingPlan, chunk_version, content_hash, plan_chunking
from ingest.documents import PreparedDoc, load_bytes, prepare_document
from ingest.reading import ReadOutcome
from ingest.results import FileFailure, FileResult, IngestReport
from ingest.sources import Discovery, Shard, SourceFile
from retrieval.errors import CollectionNotFound, DocumentNotFound, OllamaFailed
from retrieval.settings import Settings
from retrieval.store import (
    ChunkStore,
    DocumentRecord,
    WriteOutcome,
    doc_id_for,
    embedding_dimension,
    probe_dimension,
)
from retrieval.types import Embedder

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

            reader = IsolatedReader(
                settings.ingest.workers,
                settings.ingest.file_timeout_seconds,
                settings.ingest.file_memory_mb,
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
            reindex: rebuild the whole collection from ``files``, beside the old index,
                and switch only if no file failed to embed (the old index serves until
                then); the model is checked with a probe before anything is written.
            dry_run: report what would happen; nothing is read, embedded or written.
            shard: the shard this run is (limits what ``sync`` may remove).
            progress: callbacks for a progress display.

        Returns:
            Per-file results and totals. Files that fail are reported, never raised.

        Raises:
            EmbeddingModelMismatch: another model built the collection (and no reindex).
            OllamaUnavailable, OllamaModelMissing, OllamaFailed: the model cannot embed.
            ChromaUnavailable, StoreLocked: the store cannot be written.
        """
        run = _Run(self, collection, progress or Progress(), dry_run)
        discovery = files if isinstance(files, Discovery) else Discovery(files=list(files))
        started = time.perf_counter()
        calls_before = getattr(self.embedder, "calls", 0)
        run.progress.started(len(discovery.files))
        for skipped in discovery.skipped:
            run.finish(skipped)
        if not dry_run:  # a second process writing embedded Chroma is refused up front
            await asyncio.to_thread(self.store.claim_writer)
        if reindex:
            await run.reindex(discovery.files)
        else:
            await run.open_collection()
            await run.process(discovery.files)
            if sync:
                await run.sync(discovery, shard)
        report = run.report
        report.results.sort(key=lambda r: (r.status, r.source))
        report.embedding_calls = getattr(self.embedder, "calls", 0) - calls_before
        report.seconds = time.perf_counter() - started
        return report


class _Run:
    """State of one ingest run; its stages: read -> embed (in waves) -> write."""

    def __init__(self, owner: Ingestor, collection: str, progress: Progress, dry: bool) -> None:
        self.store = owner.store
        self.embedder = owner.embedder
        self.reader = owner.reader
        self.settings = owner.settings
        self.collection = collection
        self.target = collection
        """Where chunks are written: the collection, or its rebuild's staging collection."""
        self.progress = progress
        self.dry_run = dry
        self.report = IngestReport(dry_run=dry)
        self.plan: ChunkingPlan | None = None
        self.exists = False

    def finish(self, result: FileResult) -> None:
        self.report.results.append(result)
        self.progress.file_done(result)

    def _failed(self, file: SourceFile, exc: FileFailure) -> None:
        self.finish(
            FileResult(
                file.source, "failed", reason=exc.reason, message=exc.message, path=_path(file)
            )
        )

    # -- the collection ------------------------------------------------------------------

    async def _plan(self) -> None:
        self.plan = plan_chunking(self.settings.chunking, await self.embedder.info())

    async def open_collection(self) -> None:
        """Check the model of an existing collection, or create it (not in a dry run)."""
        await self._plan()
        model = self.embedder.model
        try:
            await asyncio.to_thread(self.store.check_embed_model, self.collection, model)
            self.exists = True
            return
        except CollectionNotFound:
            if self.dry_run:
                return
        dimension = await embedding_dimension(self.embedder)
        await asyncio.to_thread(self.store.ensure_collection, self.collection, model, dimension)
        self.exists = True

    async def reindex(self, files: Sequence[SourceFile]) -> None:
        """Rebuild beside the old index; switch when no file failed to embed."""
        await self._plan()
        if self.dry_run:  # the rebuild would embed every file again: plan them all
            await self.process(files)
            return
        # an embedding model that cannot embed fails here, before anything is written
        dimension = await probe_dimension(self.embedder)
        rebuild = await asyncio.to_thread(
            self.store.begin_rebuild, self.collection, self.embedder.model, dimension
        )
        self.target = rebuild.staging
        try:
            await self.process(files)
        except BaseException:
            await asyncio.to_thread(rebuild.abandon)
            raise
        if any(r.reason == "embedding_failed" for r in self.report.failures):
            await asyncio.to_thread(rebuild.abandon)
            self.report.reindex = "kept_old"
        else:
            await asyncio.to_thread(rebuild.commit)
            self.report.reindex = "switched"

    # -- stage 1: hash check and reading -----------------------------------------------

    async def _lookup(
        self, files: Sequence[SourceFile]
    ) -> tuple[dict[str, DocumentRecord], set[str]]:
        """The files' records, and which ``done`` ones have all their chunks stored."""
        if not self.exists:
            return {}, set()
        ids = [doc_id_for(f.source) for f in files]
        records: dict[str, DocumentRecord] = {}
        complete: set[str] = set()
        for part in _batches(ids, RECORD_LOOKUP_BATCH):
            found = await asyncio.to_thread(self.store.get_records, self.target, part)
            done = [r for r in found.values() if r.state == "done"]
            complete |= await asyncio.to_thread(self.store.complete, self.target, done)
            records.update(found)
        return records, complete

    async def _prepare(
        self, file: SourceFile, previous: DocumentRecord | None, complete: bool
    ) -> PreparedDoc | None:
        """Load, skip if unchanged, else read and split; None when the file is finished."""
        assert self.plan is not None
        try:
            data = await asyncio.to_thread(load_bytes, file, self.settings.ingest.max_file_mb)
        except FileFailure as exc:
            self._failed(file, exc)
            return None
        digest = content_hash(data)
        version = chunk_version(digest, self.plan)
        same = previous is not None and previous.version == version
        if same and complete and previous is not None:
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
        doc = prepare_document(file, digest, version, outcome, self.embedder.model)
        if same:  # an interrupted or damaged write of this version: keep what is stored
            ids = [c.id for c in doc.chunks]
            doc.present = await asyncio.to_thread(self.store.existing_ids, self.target, ids)
        return doc

    async def _read_stage(
        self, files: Sequence[SourceFile], out: asyncio.Queue[PreparedDoc | None]
    ) -> None:
        records, complete = await self._lookup(files)
        pending = iter(files)

        async def worker() -> None:
            for file in pending:
                doc_id = doc_id_for(file.source)
                doc = await self._prepare(file, records.get(doc_id), doc_id in complete)
                if doc is not None:
                    await out.put(doc)

        try:
            workers = max(1, self.settings.ingest.workers)
            await _first_error(*(worker() for _ in range(workers)))
        finally:
            await out.put(None)

    # -- stage 2: embedding in waves of several documents ------------------------------

    def _wave_size(self) -> int:
        ollama = self.settings.ollama
        return ollama.embed_batch_size * ollama.embed_concurrency * max(1, len(ollama.embed_urls))

    async def _next_wave(
        self, inbox: asyncio.Queue[PreparedDoc | None]
    ) -> tuple[list[PreparedDoc], bool]:
        """Documents for one wave (waiting briefly to fill it), and whether the inbox closed."""
        first = await inbox.get()
        if first is None:
            return [], True
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
                return wave, True
            wave.append(item)
            size += len(item.missing)
        return wave, False

    async def _embed_stage(
        self,
        inbox: asyncio.Queue[PreparedDoc | None],
        out: asyncio.Queue[list[PreparedDoc] | None],
    ) -> None:
        try:
            closed = False
            while not closed:
                wave, closed = await self._next_wave(inbox)
                if wave:
                    await out.put(await self._embed_wave(wave))
        finally:
            await out.put(None)

    async def _embed_wave(self, wave: list[PreparedDoc]) -> list[PreparedDoc]:
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

    async def _embed(self, wave: list[PreparedDoc]) -> None:
        chunks = [c for doc in wave for c in doc.missing]
        vectors = await self.embedder.embed_documents([c.text for c in chunks])
        by_id = dict(zip((c.id for c in chunks), vectors, strict=True))
        for doc in wave:
            doc.vectors = {c.id: by_id[c.id] for c in doc.missing}
        self.progress.embedded(len(chunks))

    # -- stage 3: writing ----------------------------------------------------------------

    async def _write_stage(self, inbox: asyncio.Queue[list[PreparedDoc] | None]) -> None:
        while (wave := await inbox.get()) is not None:
            if wave:
                await self._write_wave(wave)

    async def _write_wave(self, wave: list[PreparedDoc]) -> None:
        """Write through the store's protocol; re-embed what a concurrent delete removed."""
        outcome = await self._write(wave)
        if outcome.vanished:
            again = [d for d in wave if d.record.doc_id in outcome.vanished]
            for doc in again:
                doc.present -= set(outcome.vanished[doc.record.doc_id])
            await self._write(await self._embed_wave(again))

    async def _write(self, wave: list[PreparedDoc]) -> WriteOutcome:
        outcome = await asyncio.to_thread(
            self.store.write_documents,
            self.target,
            [doc.to_write() for doc in wave],
            embed_model=self.embedder.model,
            batch_size=self.settings.chroma.write_batch_size,
        )
        self.report.chunks_added += outcome.chunks_added
        self.report.chunks_removed += outcome.chunks_removed
        written = set(outcome.written)
        for doc in wave:
            if doc.record.doc_id in written:
                self.finish(
                    FileResult(
                        doc.file.source,
                        "ingested",
                        len(doc.chunks),
                        path=_path(doc.file),
                        notes=doc.notes,
                    )
                )
        return outcome

    async def process(self, files: Sequence[SourceFile]) -> None:
        docs: asyncio.Queue[PreparedDoc | None] = asyncio.Queue(
            maxsize=4 * self.settings.ingest.workers
        )
        waves: asyncio.Queue[list[PreparedDoc] | None] = asyncio.Queue(maxsize=1)
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
            if await asyncio.to_thread(_gone, record, discovery, shard):
                await self._remove(record)

    async def _remove(self, record: DocumentRecord) -> None:
        removed = 0
        if not self.dry_run:
            with contextlib.suppress(DocumentNotFound):  # deleted meanwhile: gone anyway
                removed = await asyncio.to_thread(
                    self.store.delete_document, self.collection, record.doc_id
                )
        self.report.chunks_removed += removed
        self.finish(
            FileResult(record.source, "removed", removed, path=f"{record.root}/{record.source}")
        )


def _gone(record: DocumentRecord, discovery: Discovery, shard: Shard | None) -> bool:
    """True when the record's file was walked over and is no longer there."""
    present = discovery.present.get(record.root)
    if present is None or record.source in present:
        return False
    if shard is not None and not shard.owns(record.source):
        return False
    # not walked (e.g. --glob left it out, or hidden) is not gone
    return not (Path(record.root) / record.source).is_file()


def _path(file: SourceFile) -> str:
    return str(file.path) if file.path is not None else file.source
