"""The three stages of an ingest run, which run at once: read -> embed (in waves) -> write.

Each stage is a small object over the run's shared :class:`RunContext`; the pipeline
(:mod:`ingest.pipeline`) connects them with bounded queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from ingest.chunking import ChunkingPlan, chunk_version
from ingest.documents import PreparedDoc, load_bytes, prepare_document
from ingest.reading import ReadOutcome
from ingest.results import FileFailure, FileResult, IngestReport, Progress
from ingest.sources import SourceFile, content_hash, path_of
from retrieval.errors import OllamaFailed
from retrieval.settings import Settings
from retrieval.store import ChunkStore, DocumentRecord, WriteOutcome, doc_id_for
from retrieval.types import Embedder
from retrieval.write_pacing import WritePacing

T = TypeVar("T")
RECORD_LOOKUP_BATCH = 2000
WAVE_WAIT_SECONDS = 0.2
WAVE_POLL_SECONDS = 0.05
"""How often a wave past its wait checks whether the writer is free."""
READ_BATCH_FILES = 16
READ_BATCH_BYTES = 1 << 20
"""A read batch ends at this many files or bytes (a larger file goes alone)."""
READ_AHEAD_WAVES = 2
"""Chunks read ahead of the embedder, in waves: a full wave is ready when the writer is."""
TAIL_SHARE = 8
"""The run's last wave leaves about this fraction of its chunks to embed after the rest
is handed to the writer (see :meth:`EmbedStage.parts`)."""

Docs = asyncio.Queue[PreparedDoc | None]
Waves = asyncio.Queue[list[PreparedDoc] | None]


READ_THREADS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="docent-read")
"""Where file reads wait for a reader worker (up to the per-file timeout): their own
threads, so slow files never hold the default pool that every store call shares."""


class FileReader(Protocol):
    """Reads and splits one file (see ``IsolatedReader`` and ``InProcessReader``)."""

    def read(self, name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome: ...

    def read_many(
        self, files: Sequence[tuple[str, bytes]], plan: ChunkingPlan
    ) -> list[ReadOutcome | FileFailure]: ...

    def close(self) -> None: ...


@runtime_checkable
class CountingEmbedder(Protocol):
    """An embedder that takes each text's token count instead of counting it again."""

    async def embed_counted(
        self, texts: Sequence[str], tokens: Sequence[int]
    ) -> list[list[float]]: ...


@dataclass
class RunContext:
    """What the stages of one run share."""

    store: ChunkStore
    embedder: Embedder
    reader: FileReader
    settings: Settings
    progress: Progress
    report: IngestReport
    plan: ChunkingPlan
    target: str
    """The collection written: the run's own, or its rebuild's staging collection."""
    exists: bool
    """Whether ``target`` may hold records already (else lookups are skipped)."""
    dry_run: bool
    pacing: WritePacing
    """Rows per Chroma call of the writes (bulk, or bounded in time while serving)."""
    alone: bool = False
    """Whether nothing else writes the store meanwhile (``docent ingest`` on embedded
    Chroma: the claim held, no other task): the run may then leave its collection
    verified (:meth:`settle`)."""
    found_complete: dict[str, DocumentRecord] | None = None
    """Every record the collection held when the run began, if the lookup found every
    ``done`` one complete (else None)."""

    async def settle(self) -> None:
        """Leave the collection verified, its records cached, after a run made :attr:`alone`.

        Every ``done`` record is complete then: those the run found (all of them, all
        complete) and did not write are as they were, and those it wrote went through
        the write protocol. See :meth:`ChunkStore.settle`.
        """
        if not self.alone or self.dry_run or self.found_complete is None:
            return
        written = {
            doc_id_for(r.source) for r in self.report.results if r.status in ("ingested", "removed")
        }
        kept = {i: r for i, r in self.found_complete.items() if i not in written}
        await asyncio.to_thread(self.store.settle, self.target, kept, sorted(written))

    def finish(self, result: FileResult) -> None:
        self.report.results.append(result)
        self.progress.file_done(result)

    def failed(self, file: SourceFile, exc: FileFailure) -> None:
        self.finish(
            FileResult(
                file.source, "failed", reason=exc.reason, message=exc.message, path=path_of(file)
            )
        )


async def first_error(*aws: Awaitable[None]) -> None:
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


class ChunkBudget:
    """Bounds the chunks read but not yet taken by the embedder (memory), not the documents.

    Counting documents instead starves the waves: while the writer is busy, only a few
    small documents could wait, and each wave (one store write with its fixed cost) got
    a handful of chunks. A document larger than the whole budget still passes, alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._changed = asyncio.Condition()

    async def acquire(self, chunks: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.held == 0 or self.held + chunks <= self.limit)
            self.held += chunks

    async def release(self, chunks: int) -> None:
        async with self._changed:
            self.held -= chunks
            self._changed.notify_all()


@dataclass
class Loaded:
    """A file's bytes and content hash, or why they could not be had."""

    file: SourceFile
    data: bytes = b""
    digest: str = ""
    failure: FileFailure | None = None


class ReadStage:
    """Stage 1: look up records, load each file, skip the unchanged, read and split the rest.

    Files go in small batches (:data:`READ_BATCH_FILES`, :data:`READ_BATCH_BYTES`): one
    thread hop loads and hashes a batch, one worker round trip reads it. Per-file thread
    hops and round trips cost more than reading an abstract, and embedded Chroma holds
    the GIL while it writes, so a worker fed one file at a time idled through each write.
    Files that a scan hashed (``SourceFile.digest``, see :mod:`ingest.scan`) are told
    unchanged by that digest, once the records are known, without being loaded.
    """

    def __init__(self, run: RunContext, budget: ChunkBudget) -> None:
        self.run = run
        self.budget = budget
        self._taking = threading.Lock()

    async def __call__(self, files: Sequence[SourceFile], out: Docs) -> None:
        # the record lookups (Chroma) run while the first files are loaded and hashed
        lookup = asyncio.ensure_future(self._lookup(files))
        pending = iter(files)

        async def worker() -> None:
            while batch := await asyncio.to_thread(self._take, pending):
                records, complete = await lookup
                for doc in await self._prepare(batch, records, complete):
                    await self.budget.acquire(len(doc.missing))
                    await out.put(doc)

        try:
            if any(file.digest is not None for file in files):  # no need to load those
                pending = iter(self._skip_unchanged_by_digest(files, *await lookup))
            await first_error(*(worker() for _ in range(self._workers())))
            await lookup  # its error, even when no file needed its answer
        finally:
            if not lookup.done():
                lookup.cancel()
            elif not lookup.cancelled():
                lookup.exception()  # retrieved: another error is the one raised
        # the end, for the next stage; a failed or cancelled run cancels it instead (a
        # put in a ``finally`` would wait forever on a full queue nobody reads any more)
        await out.put(None)

    def _workers(self) -> int:
        return max(1, self.run.settings.ingest.workers)

    async def _lookup(
        self, files: Sequence[SourceFile]
    ) -> tuple[dict[str, DocumentRecord], set[str]]:
        """The files' records, and which ``done`` ones have all their chunks stored.

        The chunks are looked up by id unless the collection is known complete at its
        current revision (:meth:`ChunkStore.verification`): then no write has happened
        since a run saw every ``done`` record's chunks stored. A run that looks up every
        record of the collection and finds them all complete leaves that mark, so the
        next unchanged re-ingest reads only the records (in embedded Chroma, the first
        chunk lookup also loads the collection's vector index: seconds at 30,000 chunks).
        """
        run = self.run
        if not run.exists:
            return {}, set()
        store, target = run.store, run.target
        token, verified = await asyncio.to_thread(store.verification, target)
        records: dict[str, DocumentRecord] = {}
        complete: set[str] = set()
        all_done_complete = True
        for part in _batches([doc_id_for(f.source) for f in files], RECORD_LOOKUP_BATCH):
            found = await asyncio.to_thread(store.get_records, target, part)
            done = {r.doc_id for r in found.values() if r.state == "done"}
            if not verified:
                seen = await asyncio.to_thread(store.complete, target, [found[d] for d in done])
                all_done_complete = all_done_complete and seen == done
                done = seen
            complete |= done
            records.update(found)
        seen_every_record = (verified or all_done_complete) and (
            (run.alone or not verified)  # counted only when it can serve
            and len(records) == await asyncio.to_thread(store.record_count, target)
        )
        if seen_every_record and not verified and records and not run.dry_run:
            await asyncio.to_thread(store.mark_verified, target, token)
        if seen_every_record:
            run.found_complete = records
        return records, complete

    def _skip_unchanged_by_digest(
        self,
        files: Sequence[SourceFile],
        records: dict[str, DocumentRecord],
        complete: set[str],
    ) -> list[SourceFile]:
        """Finish the files that a scan's digest shows unchanged; the rest, to load.

        Those are loaded and hashed again like files without a digest: what is read
        decides what is stored.
        """
        rest: list[SourceFile] = []
        for file in files:
            if file.digest is None:
                rest.append(file)
                continue
            version = chunk_version(file.digest, self.run.plan)
            if not self._finished_unchanged(file, version, records, complete):
                rest.append(replace(file, digest=None))
        return rest

    def _finished_unchanged(
        self,
        file: SourceFile,
        version: str,
        records: dict[str, DocumentRecord],
        complete: set[str],
    ) -> bool:
        """Whether ``file`` is unchanged; if it is, it is finished (reported ``unchanged``).

        Unchanged: its record is ``done`` at ``version`` and in ``complete`` (all its chunks
        stored).
        """
        previous = records.get(doc_id_for(file.source))
        if previous is None or previous.version != version or previous.doc_id not in complete:
            return False
        result = FileResult(file.source, "unchanged", previous.chunk_count, path=path_of(file))
        self.run.finish(result)
        return True

    def _take(self, pending: Iterator[SourceFile]) -> list[Loaded]:
        """The next batch of files, loaded and hashed (blocking: run it in a thread)."""
        batch: list[Loaded] = []
        size = 0
        max_mb = self.run.settings.ingest.max_file_mb
        with self._taking:
            for file in pending:
                try:
                    data = load_bytes(file, max_mb)
                except FileFailure as exc:
                    batch.append(Loaded(file, failure=exc))
                else:
                    batch.append(Loaded(file, data, content_hash(data)))
                    size += len(data)
                if len(batch) >= READ_BATCH_FILES or size >= READ_BATCH_BYTES:
                    break
        return batch

    async def _prepare(
        self, batch: list[Loaded], records: dict[str, DocumentRecord], complete: set[str]
    ) -> list[PreparedDoc]:
        """Skip the unchanged, read and split the rest; the documents to embed."""
        run = self.run
        to_read: list[tuple[Loaded, str]] = []
        for item in batch:
            file = item.file
            if item.failure is not None:
                run.failed(file, item.failure)
                continue
            version = chunk_version(item.digest, run.plan)
            if self._finished_unchanged(file, version, records, complete):
                continue
            if run.dry_run:
                run.finish(FileResult(file.source, "planned", path=path_of(file)))
            else:
                to_read.append((item, version))
        if not to_read:
            return []
        # reads wait for a reader worker in their own threads, never the default pool
        outcomes = await asyncio.get_running_loop().run_in_executor(
            READ_THREADS,
            run.reader.read_many,
            [(i.file.source, i.data) for i, _ in to_read],
            run.plan,
        )
        docs: list[PreparedDoc] = []
        for (item, version), outcome in zip(to_read, outcomes, strict=True):
            if isinstance(outcome, FileFailure):
                run.failed(item.file, outcome)
                continue
            doc = prepare_document(item.file, item.digest, version, outcome, run.embedder.model)
            previous = records.get(doc.record.doc_id)
            if previous is not None and previous.version == version:
                # an interrupted or damaged write of this version: keep what is stored
                ids = [c.id for c in doc.chunks]
                doc.present = await asyncio.to_thread(run.store.existing_ids, run.target, ids)
            docs.append(doc)
        return docs


class EmbedStage:
    """Stage 2: embed documents in waves that fill full batches on every Ollama host."""

    def __init__(self, run: RunContext, budget: ChunkBudget) -> None:
        self.run = run
        self.budget = budget
        self.wave_size = run.settings.ollama.embed_wave_size
        self.writer_bound = False
        """Whether an embedded wave had to wait for the writer (so embedding is not the
        slow stage)."""

    async def __call__(self, inbox: Docs, out: Waves) -> None:
        closed = False
        while not closed:
            wave, closed = await self._next_wave(inbox, out)
            for part in self.parts(wave, last=closed):
                embedded = await self.embed_wave(part)
                self.writer_bound = self.writer_bound or out.full()
                await out.put(embedded)
        await out.put(None)  # the end (see ReadStage)

    def parts(self, wave: list[PreparedDoc], *, last: bool) -> list[list[PreparedDoc]]:
        """The wave, or for the run's last wave, its documents in two parts.

        After the last wave is embedded the embedding server idles while it is written
        (0.3-0.9 s for 460 chunks on this machine). Split, the first part is written
        while the server embeds the tail (about 1/:data:`TAIL_SHARE` of the chunks), so
        only the tail's short write is left after the last request. Not when embedding
        is the fast stage (:attr:`writer_bound`): there the split would only add a
        write's fixed cost.
        """
        if not last or self.writer_bound or len(wave) < 2:
            return [wave] if wave else []
        sizes = [len(doc.missing) for doc in wave]
        tail_from, tail = len(wave) - 1, sizes[-1]
        while tail_from > 1 and (tail + sizes[tail_from - 1]) * TAIL_SHARE <= sum(sizes):
            tail_from -= 1
            tail += sizes[tail_from]
        return [wave[:tail_from], wave[tail_from:]]

    async def _next_wave(self, inbox: Docs, out: Waves) -> tuple[list[PreparedDoc], bool]:
        """Documents for one wave, and whether the inbox closed.

        Waits briefly (:data:`WAVE_WAIT_SECONDS`) to fill the wave, and on for as long as
        the writer still has an embedded wave waiting: a wave sent then would only wait
        too, and each wave is one store write with a fixed cost, so fuller is faster.
        """
        first = await inbox.get()
        if first is None:
            return [], True
        wave, size = [first], len(first.missing)
        await self.budget.release(size)
        deadline = time.monotonic() + WAVE_WAIT_SECONDS
        while size < self.wave_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                if not out.full():
                    break
                timeout = WAVE_POLL_SECONDS
            try:  # not asyncio.wait_for: in 3.11 it drops a cancel that lands as an item does
                async with asyncio.timeout(timeout):
                    item = await inbox.get()
            except TimeoutError:
                continue
            if item is None:
                return wave, True
            wave.append(item)
            size += len(item.missing)
            await self.budget.release(len(item.missing))
        return wave, False

    async def embed_wave(self, wave: list[PreparedDoc]) -> list[PreparedDoc]:
        """Embed a wave; the documents that get an Ollama error fail, the rest go on.

        On an error the wave is embedded again one document at a time, to find which
        files Ollama refuses; a wave of one document simply fails that file.
        """
        try:
            await self._embed(wave)
        except OllamaFailed as exc:
            if len(wave) > 1:
                return [d for doc in wave for d in await self.embed_wave([doc])]
            message = f"the embedding model refused it: {exc.message}"
            self.run.failed(wave[0].file, FileFailure("embedding_failed", message))
            return []
        return wave

    async def _embed(self, wave: list[PreparedDoc]) -> None:
        chunks = [(doc, c) for doc in wave for c in doc.missing]
        texts = [c.text for _, c in chunks]
        embedder = self.run.embedder
        if isinstance(embedder, CountingEmbedder):  # the chunker counted every chunk
            tokens = [doc.tokens[c.id] for doc, c in chunks]
            vectors = await embedder.embed_counted(texts, tokens)
        else:
            vectors = await embedder.embed_documents(texts)
        by_id = dict(zip((c.id for _, c in chunks), vectors, strict=True))
        for doc in wave:
            doc.vectors = {c.id: by_id[c.id] for c in doc.missing}
        self.run.progress.embedded(len(chunks))


class WriteStage:
    """Stage 3: write each wave through the store's protocol (locked per document)."""

    def __init__(self, run: RunContext, embedding: EmbedStage) -> None:
        self.run = run
        self.embedding = embedding

    async def __call__(self, inbox: Waves) -> None:
        while (wave := await inbox.get()) is not None:
            if wave:
                await self._write_wave(wave)

    async def _write_wave(self, wave: list[PreparedDoc]) -> None:
        """Write; what a concurrent delete removed meanwhile is embedded again and written."""
        outcome = await self._write(wave)
        if outcome.vanished:
            again = [d for d in wave if d.record.doc_id in outcome.vanished]
            for doc in again:
                doc.present -= set(outcome.vanished[doc.record.doc_id])
            await self._write(await self.embedding.embed_wave(again))

    async def _write(self, wave: list[PreparedDoc]) -> WriteOutcome:
        run = self.run
        outcome = await asyncio.to_thread(
            run.store.write_documents,
            run.target,
            [doc.to_write() for doc in wave],
            embed_model=run.embedder.model,
            pacing=run.pacing,
        )
        run.report.chunks_added += outcome.chunks_added
        run.report.chunks_removed += outcome.chunks_removed
        written = set(outcome.written)
        for doc in wave:
            if doc.record.doc_id in written:
                run.finish(
                    FileResult(
                        doc.file.source,
                        "ingested",
                        len(doc.chunks),
                        path=path_of(doc.file),
                        notes=doc.notes,
                    )
                )
        return outcome


async def run_stages(run: RunContext, files: Sequence[SourceFile]) -> None:
    """Read, embed and write ``files``, the three stages at once."""
    docs: Docs = asyncio.Queue()  # bounded by the budget, in chunks
    waves: Waves = asyncio.Queue(maxsize=1)
    budget = ChunkBudget(READ_AHEAD_WAVES * run.settings.ollama.embed_wave_size)
    embedding = EmbedStage(run, budget)
    await first_error(
        ReadStage(run, budget)(files, docs),
        embedding(docs, waves),
        WriteStage(run, embedding)(waves),
    )


def on_disk(root: str, source: str) -> bool:
    return (Path(root) / source).is_file()
