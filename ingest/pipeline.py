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
import time
from collections.abc import Sequence

from ingest.chunking import plan_chunking
from ingest.results import FileResult, IngestReport, Progress
from ingest.sources import Discovery, Shard, SourceFile
from ingest.stages import FileReader, RunContext, on_disk, run_stages
from retrieval.errors import CollectionNotFound, DocumentNotFound
from retrieval.settings import Settings
from retrieval.store import ChunkStore, DocumentRecord, embedding_dimension, probe_dimension
from retrieval.types import Embedder
from retrieval.write_pacing import WritePacing

__all__ = ["FileReader", "Ingestor", "Progress"]


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
        self.pacing = WritePacing.interactive(settings.chroma.write_batch_size)
        """Rows per Chroma write call of runs without ``bulk``: learnt, so that one call
        holds embedded Chroma (and the GIL) about 50 ms while the process serves requests."""
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
        bulk: bool = False,
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
            bulk: write in large Chroma calls (:meth:`WritePacing.bulk`), for throughput
                when nothing else waits on this process (``docent ingest``); else each
                call is kept short (:attr:`pacing`), so searches served meanwhile by the
                same process are not stalled.

        Returns:
            Per-file results and totals. Files that fail are reported, never raised.

        Raises:
            EmbeddingModelMismatch: another model built the collection (and no reindex).
            OllamaUnavailable, OllamaModelMissing, OllamaFailed: the model cannot embed.
            ChromaUnavailable, StoreLocked: the store cannot be written.
        """
        discovery = files if isinstance(files, Discovery) else Discovery(files=list(files))
        started = time.perf_counter()
        calls_before = getattr(self.embedder, "calls", 0)
        if not dry_run:  # a second process writing embedded Chroma is refused up front
            await asyncio.to_thread(self.store.claim_writer)
        plan = plan_chunking(self.settings.chunking, await self.embedder.info())
        run = RunContext(
            self.store,
            self.embedder,
            self.reader,
            self.settings,
            progress or Progress(),
            IngestReport(dry_run=dry_run),
            plan,
            target=collection,
            exists=False,
            dry_run=dry_run,
            pacing=WritePacing.bulk() if bulk else self.pacing,
            # embedded Chroma's claim keeps other processes out; a server's writers are not
            alone=bulk and self.store.persist_dir is not None,
        )
        run.progress.started(len(discovery.files))
        for skipped in discovery.skipped:
            run.finish(skipped)
        if reindex:
            await _reindex(run, discovery.files)
        else:
            await _open_collection(run)
            await run_stages(run, discovery.files)
            if sync:
                await _sync(run, discovery, shard)
            await run.settle()
        report = run.report
        report.results.sort(key=lambda r: (r.status, r.source))
        report.embedding_calls = getattr(self.embedder, "calls", 0) - calls_before
        report.seconds = time.perf_counter() - started
        return report


async def _open_collection(run: RunContext) -> None:
    """Check the model of an existing collection, or create it (not in a dry run)."""
    model = run.embedder.model
    try:
        await asyncio.to_thread(run.store.check_model, run.target, model)
        run.exists = True
        return
    except CollectionNotFound:
        if run.dry_run:
            return
    dimension = await embedding_dimension(run.embedder)
    await asyncio.to_thread(run.store.ensure_collection, run.target, model, dimension)
    run.exists = True


async def _reindex(run: RunContext, files: Sequence[SourceFile]) -> None:
    """Rebuild beside the old index; switch when no file failed to embed."""
    if run.dry_run:  # the rebuild would embed every file again: plan them all
        await run_stages(run, files)
        return
    # an embedding model that cannot embed fails here, before anything is written
    dimension = await probe_dimension(run.embedder)
    rebuild = await asyncio.to_thread(
        run.store.begin_rebuild, run.target, run.embedder.model, dimension
    )
    run.target = rebuild.staging
    try:
        await run_stages(run, files)
    except BaseException:
        await asyncio.to_thread(rebuild.abandon)
        raise
    if any(r.reason == "embedding_failed" for r in run.report.failures):
        await asyncio.to_thread(rebuild.abandon)
        run.report.reindex = "kept_old"
    else:
        await asyncio.to_thread(rebuild.commit)
        run.report.reindex = "switched"


async def _sync(run: RunContext, discovery: Discovery, shard: Shard | None) -> None:
    """Remove documents of the walked folders whose files are gone."""
    if not run.exists or not discovery.present:
        return
    records = await asyncio.to_thread(run.store.list_documents, run.target)
    for record in records:
        if await asyncio.to_thread(_gone, record, discovery, shard):
            removed = 0
            if not run.dry_run:
                with contextlib.suppress(DocumentNotFound):  # deleted meanwhile: gone anyway
                    removed = await asyncio.to_thread(
                        run.store.delete_document, run.target, record.doc_id
                    )
            run.report.chunks_removed += removed
            path = f"{record.root}/{record.source}"
            run.finish(FileResult(record.source, "removed", removed, path=path))


def _gone(record: DocumentRecord, discovery: Discovery, shard: Shard | None) -> bool:
    """True when the record's file was walked over and is no longer there."""
    present = discovery.present.get(record.root)
    if present is None or record.source in present:
        return False
    if shard is not None and not shard.owns(record.source):
        return False
    # not walked (e.g. --glob left it out, or hidden) is not gone
    return not on_disk(record.root, record.source)
