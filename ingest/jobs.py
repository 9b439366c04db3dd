"""Ingestion jobs: queued, run a bounded number at a time, cancellable, resumed after a restart.

A job runs through the one write path (the runtime's :class:`~ingest.pipeline.Ingestor`),
so what a cancelled or killed job wrote is consistent (the store's write protocol) and a
resumed job redoes nothing that finished (hash-incremental ingestion: its finished files
come back ``unchanged``, and the job keeps their earlier ``ingested`` verdict)::

    submit_paths / submit_uploads ──> JobTable (SQLite, durable) ──> queue (FIFO)
        ──> max_jobs slots ──> Ingestor.ingest(progress=_JobProgress) ──> events, table

Knows files and jobs; never HTTP (the routes in ``api.routes.jobs`` translate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ingest.jobs_store import FINAL_STATES, Job, JobSpec, JobTable, jobs_folder
from ingest.pipeline import Ingestor, Progress
from ingest.results import FileResult
from ingest.sources import Discovery, discover
from ingest.uploads import Upload, safe_filename, unique_names, upload_sources
from retrieval.errors import DocentError, InvalidRequest, JobNotFound, PathNotAllowed
from retrieval.settings import Settings

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
"""How often a running job's finished files are written to the job table."""
COPY_CHUNK = 1024 * 1024

JobEvent = dict[str, Any]
StagedUpload = tuple[str | None, IO[bytes]]
"""An uploaded file: the name the client sent, and a readable file object of its bytes."""


def allowed_path(raw: str, roots: Sequence[Path]) -> Path:
    """``raw`` resolved (symlinks, ``..``), if it lies under one of ``roots``.

    Raises:
        PathNotAllowed: no roots are configured, or the path is outside all of them.
        InvalidRequest: the path is allowed but does not exist.
    """
    if not roots:
        raise PathNotAllowed(
            "Server-side paths are disabled: the operator allows folders with "
            "DOCENT_INGEST_ROOTS (comma-separated). Upload the files instead."
        )
    path = Path(raw).expanduser().resolve()
    resolved_roots = [Path(root).expanduser().resolve() for root in roots]
    if not any(path == root or path.is_relative_to(root) for root in resolved_roots):
        shown = ", ".join(str(root) for root in resolved_roots[:3])
        raise PathNotAllowed(f"Expected a path under DOCENT_INGEST_ROOTS ({shown}), got {raw!r}.")
    if not path.exists():
        raise InvalidRequest(f"Expected an existing file or folder, got {raw!r}.")
    return path


def _check_glob(glob: str | None) -> None:
    if glob is not None and (glob.startswith("/") or ".." in Path(glob).parts):
        raise InvalidRequest(f"Expected a relative pattern such as '**/*.pdf', got {glob!r}.")


def _within_roots(discovery: Discovery, roots: Sequence[Path]) -> list[FileResult]:
    """Drop files that are links leaving the roots; their failures."""
    resolved = [Path(root).expanduser().resolve() for root in roots]
    kept, refused = [], []
    for file in discovery.files:
        real = file.path.resolve() if file.path is not None else None
        if real is None or any(real.is_relative_to(root) for root in resolved):
            kept.append(file)
        else:
            refused.append(
                FileResult(
                    file.source,
                    "failed",
                    reason="unreadable",
                    message="a link to a file outside DOCENT_INGEST_ROOTS",
                    path=str(file.path),
                )
            )
    discovery.files = kept
    return refused


@dataclass
class _Live:
    """What only a running job has: its rates, subscribers and rows not yet saved."""

    started: float = field(default_factory=time.monotonic)
    files: int = 0
    chunks: int = 0
    pending: list[FileResult] = field(default_factory=list)

    def rate(self) -> float:
        return self.files / max(1e-6, time.monotonic() - self.started)

    def chunk_rate(self) -> float:
        return self.chunks / max(1e-6, time.monotonic() - self.started)


class _JobProgress(Progress):
    """The pipeline's callbacks, turned into job state and events."""

    def __init__(self, runner: JobRunner, job: Job, live: _Live) -> None:
        self.runner = runner
        self.job = job
        self.live = live

    def file_done(self, result: FileResult) -> None:
        kept = self.job.record(result)
        self.live.pending.append(kept)
        if result.status != "removed":
            self.live.files += 1
        self.runner.publish(self.job, "file", {"file": file_json(kept)})

    def embedded(self, chunks: int) -> None:
        self.live.chunks += chunks


def file_json(result: FileResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "path": result.path or result.source,
        "status": result.status,
        "chunks": result.chunks,
        "reason": result.reason,
        "message": result.message or None,
    }


class JobRunner:
    """Runs ingestion jobs from the persisted job table, ``max_jobs`` at a time, in order.

    Args:
        settings: the settings tree (roots, max jobs, jobs folder).
        ingestor: returns the runtime's ingestor (built on first use).
        folder: where the job table and uploads live (default :func:`jobs_folder`).
    """

    def __init__(
        self,
        settings: Settings,
        ingestor: Callable[[], Ingestor],
        folder: Path | None = None,
    ) -> None:
        self.settings = settings
        self._ingestor = ingestor
        self.folder = folder or jobs_folder(settings)
        self._table: JobTable | None = None
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, _Live] = {}
        self._subscribers: dict[str, list[asyncio.Queue[JobEvent]]] = {}
        self._seq: dict[str, int] = {}
        self._slots: asyncio.Semaphore | None = None
        self._start_lock = asyncio.Lock()
        self._closing = False

    @property
    def roots(self) -> list[Path]:
        return list(self.settings.ingest.roots)

    async def start(self) -> None:
        """Open the table and queue again, in order, the jobs a stop left queued or running."""
        async with self._start_lock:
            if self._table is not None:
                return
            self._slots = asyncio.Semaphore(self.settings.ingest.max_jobs)
            table = await asyncio.to_thread(JobTable, self.folder)
            jobs = await asyncio.to_thread(table.load)
            waiting = {Path(j.spec.paths[0]).name for j in jobs if _runs_on_upload(j)}
            await asyncio.to_thread(_remove_stale_uploads, table.folder / "uploads", waiting)
            for job in jobs:
                self._jobs[job.id] = job
                if job.state not in FINAL_STATES:
                    logger.info("event=job_resumed id=%s state=%s", job.id, job.state)
                    job.state = "queued"
                    self._schedule(job)
            self._table = table

    async def aclose(self) -> None:
        """Stop running jobs without marking them: the next start resumes them."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._table is not None:
            await asyncio.to_thread(self._table.close)

    async def _opened(self) -> JobTable:
        await self.start()
        assert self._table is not None
        return self._table

    # -- submitting ---------------------------------------------------------------------

    async def submit_paths(
        self, collection: str, paths: Sequence[str], *, glob: str | None = None, sync: bool = False
    ) -> Job:
        """Queue a job over server-side files and folders under ``DOCENT_INGEST_ROOTS``.

        Raises:
            PathNotAllowed: a path outside the roots (or no roots configured).
            InvalidRequest: no paths, a path that does not exist, or a bad glob.
        """
        if not paths:
            raise InvalidRequest("Expected at least one path in 'paths', got none.")
        _check_glob(glob)
        resolved = [str(allowed_path(p, self.roots)) for p in paths]
        spec = JobSpec("paths", tuple(resolved), glob, sync)
        return await self._submit(Job(id=uuid.uuid4().hex, collection=collection, spec=spec))

    async def submit_uploads(self, collection: str, files: Sequence[StagedUpload]) -> Job:
        """Store uploaded files durably in the jobs folder, then queue a job over them.

        Raises:
            InvalidRequest: no files.
        """
        if not files:
            raise InvalidRequest("Expected at least one file, got none.")
        table = await self._opened()
        job_id = uuid.uuid4().hex
        folder = table.folder / "uploads" / job_id
        names = unique_names([safe_filename(name, i) for i, (name, _) in enumerate(files, 1)])
        try:
            await asyncio.to_thread(_store_files, folder, names, [f for _, f in files])
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, True)
            raise
        spec = JobSpec("uploads", (str(folder),))
        return await self._submit(Job(id=job_id, collection=collection, spec=spec))

    async def _submit(self, job: Job) -> Job:
        table = await self._opened()
        await asyncio.to_thread(table.insert, job)
        self._jobs[job.id] = job
        logger.info(
            "event=job_queued id=%s collection=%s kind=%s", job.id, job.collection, job.spec.kind
        )
        self._schedule(job)
        return job

    def _schedule(self, job: Job) -> None:
        self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"job-{job.id}")

    # -- reading ------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        """The job of ``job_id``.

        Raises:
            JobNotFound: no such job.
        """
        await self._opened()
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"No ingestion job {job_id!r}; list them with GET /v1/jobs.")
        return job

    async def list_jobs(self) -> list[Job]:
        """Every job, oldest first."""
        await self._opened()
        return list(self._jobs.values())

    def snapshot(self, job: Job) -> dict[str, Any]:
        """The job as plain data: state, counts, rate, time left, failures."""
        live = self._live.get(job.id) if job.state == "running" else None
        rate = live.rate() if live is not None else None
        left = max(0, job.total - job.processed)
        eta = left / rate if rate else None
        return {
            "id": job.id,
            "collection": job.collection,
            "kind": job.spec.kind,
            "state": job.state,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "files": self._files(job),
            "chunks": {
                "added": job.chunks("ingested"),
                "removed": job.chunks("removed"),
            },
            "files_per_second": round(rate, 3) if rate is not None else None,
            "eta_seconds": round(eta, 1) if eta is not None else None,
            "failures": [file_json(r) for r in job.results.values() if r.status == "failed"],
            "error": (
                {"code": job.error_code, "message": job.error_message}
                if job.error_code is not None
                else None
            ),
        }

    @staticmethod
    def _files(job: Job) -> dict[str, int]:
        counts = {"total": job.total, "processed": job.processed}
        for status in ("ingested", "unchanged", "failed", "skipped", "removed"):
            counts[status] = job.count(status)
        return counts

    def stats(self) -> tuple[dict[str, int], float, float]:
        """Jobs by state, and files and chunks per second of the running ones (metrics)."""
        by_state: dict[str, int] = {}
        for job in self._jobs.values():
            by_state[job.state] = by_state.get(job.state, 0) + 1
        running = [self._live[j] for j in self._live if self._jobs[j].state == "running"]
        return (
            by_state,
            sum(live.rate() for live in running),
            sum(live.chunk_rate() for live in running),
        )

    # -- events -------------------------------------------------------------------------

    def publish(self, job: Job, kind: str, data: dict[str, Any] | None = None) -> None:
        """Send an event to the job's subscribers (numbered, in order)."""
        seq = self._seq.get(job.id, 0) + 1
        self._seq[job.id] = seq
        event: JobEvent = {"type": kind, "seq": seq, "job_id": job.id, **(data or {})}
        if kind != "end":
            event["files"] = self._files(job)
        for queue in self._subscribers.get(job.id, []):
            queue.put_nowait(event)

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's current state, then its events as they happen, ending with ``end``.

        Raises:
            JobNotFound: no such job (raised before the first event).
        """
        job = await self.get(job_id)
        return self._follow(job)

    async def _follow(self, job: Job) -> AsyncIterator[JobEvent]:
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        subscribers = self._subscribers.setdefault(job.id, [])
        subscribers.append(queue)
        try:
            seq = self._seq.get(job.id, 0)
            yield {"type": "state", "seq": seq, "job_id": job.id, "job": self.snapshot(job)}
            if job.state in FINAL_STATES:
                yield {"type": "end", "seq": seq, "job_id": job.id, "job": self.snapshot(job)}
                return
            while True:
                event = await queue.get()
                yield event
                if event["type"] == "end":
                    return
        finally:
            subscribers.remove(queue)

    # -- cancelling ---------------------------------------------------------------------

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job and wait until it has stopped.

        Files already written stay (the store's write protocol keeps them consistent); the
        rest are left untouched. A finished job is returned as it is.

        Raises:
            JobNotFound: no such job.
        """
        job = await self.get(job_id)
        task = self._tasks.get(job_id)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        return job

    # -- running ------------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        assert self._slots is not None
        live = _Live()
        try:
            async with self._slots:
                job.state, job.started_at = "running", job.started_at or time.time()
                live = self._live[job.id] = _Live()
                await self._save(job, live)
                self.publish(job, "state", {"state": job.state})
                await self._ingest(job, live)
            job.state = "succeeded"
        except asyncio.CancelledError:
            if self._closing:  # a stop of the server: left queued/running, resumed later
                with contextlib.suppress(Exception):
                    await self._save(job, live)
                raise
            job.state = "cancelled"
        except DocentError as exc:
            job.state, job.error_code, job.error_message = "failed", exc.code, str(exc)
            logger.warning("event=job_failed id=%s code=%s", job.id, exc.code)
        except Exception:
            logger.exception("event=job_failed id=%s", job.id)
            job.state, job.error_code = "failed", "internal_error"
            job.error_message = "The job failed unexpectedly; the server log has the details."
        job.finished_at = time.time()
        self._live.pop(job.id, None)
        self._tasks.pop(job.id, None)
        await self._save(job, live)
        logger.info("event=job_finished id=%s state=%s", job.id, job.state)
        self.publish(job, "end", {"job": self.snapshot(job)})
        if job.spec.kind == "uploads":
            await asyncio.to_thread(shutil.rmtree, job.spec.paths[0], True)

    async def _ingest(self, job: Job, live: _Live) -> None:
        discovery, refused = await asyncio.to_thread(self._discover, job)
        job.total = len(discovery.files) + len(discovery.skipped) + len(refused)
        progress = _JobProgress(self, job, live)
        for result in refused:
            progress.file_done(result)
        flusher = asyncio.create_task(self._flush(job, live))
        try:
            await self._ingestor().ingest(
                discovery, collection=job.collection, sync=job.spec.sync, progress=progress
            )
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    def _discover(self, job: Job) -> tuple[Discovery, list[FileResult]]:
        spec = job.spec
        if spec.kind == "uploads":  # named like the upload route's files: no root
            folder = Path(spec.paths[0])
            uploads = [Upload(p.name, p) for p in sorted(folder.iterdir())]
            return Discovery(files=upload_sources(uploads)), []
        discovery = discover([Path(p) for p in spec.paths], spec.glob)
        return discovery, _within_roots(discovery, self.roots)

    async def _flush(self, job: Job, live: _Live) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if live.pending:
                await self._save(job, live)

    async def _save(self, job: Job, live: _Live) -> None:
        rows, live.pending = live.pending, []
        table = await self._opened()
        await asyncio.to_thread(table.save, job, rows)


def _runs_on_upload(job: Job) -> bool:
    return job.spec.kind == "uploads" and job.state not in FINAL_STATES


def _remove_stale_uploads(uploads: Path, waiting: set[str]) -> None:
    """Delete uploaded files no unfinished job will read.

    A stop between storing an upload and queueing its job (or between a job's end and
    the removal of its files) would otherwise keep those files on disk for good.
    """
    if not uploads.is_dir():
        return
    for folder in uploads.iterdir():
        if folder.name not in waiting:
            logger.info("event=job_uploads_removed folder=%s", folder.name)
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)


def _store_files(folder: Path, names: Sequence[str], files: Sequence[IO[bytes]]) -> None:
    """Copy uploads into ``folder`` and fsync them (and the folder): durable before the 202."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in zip(names, files, strict=True):
        with (folder / name).open("wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
            out.flush()
            os.fsync(out.fileno())
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
