"""Per-file isolation: files are read in worker processes with memory and time limits.

A small pool of long-lived workers (started with ``forkserver``, so they do not inherit
the parent's memory) reads one file at a time each. A worker gets ``RLIMIT_AS`` set to
the memory limit; a file that takes longer than the time limit gets its worker killed
(-> ``timeout``) and a fresh worker takes its place, as after any crash. Start-up costs
about a second per worker on 2 cores, so workers are reused across files.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import queue
import resource
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from ingest.chunking import ChunkingPlan
from ingest.ocr import TIME_SHARE, OcrOptions
from ingest.reader_server import reader_context
from ingest.reading import ReadOutcome, read_and_split
from ingest.results import FileFailure

Outcome = ReadOutcome | FileFailure
"""A file's result: its chunks, or why it failed."""

log = logging.getLogger(__name__)

_MB = 1024 * 1024


def _worker_main(conn: Connection, memory_mb: int) -> None:
    """Loop of a worker process: read files sent over ``conn`` until it closes."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    limit = memory_mb * _MB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            files, plan, ocr = conn.recv()
        except (EOFError, OSError):
            return
        for name, data in files:  # one reply per file, as soon as it is read
            if not _read_one(conn, name, data, plan, ocr, memory_mb):
                return
        del files


def _read_one(
    conn: Connection, name: str, data: bytes, plan: ChunkingPlan, ocr: OcrOptions, memory_mb: int
) -> bool:
    """Read one file and send its reply; False when the worker must stop (out of memory)."""
    reply: tuple[Any, ...]
    fatal = False
    try:
        reply = ("ok", read_and_split(name, data, plan, ocr))
    except FileFailure as exc:
        reply = ("fail", exc.reason, exc.message)
    except MemoryError:
        reply = ("fail", "too_large", f"needs more than {memory_mb} MB to read")
        fatal = True
    except RecursionError:
        reply = ("fail", "malformed", "cannot be parsed: structure nested too deeply")
    except Exception as exc:
        reply = ("fail", "malformed", f"cannot be parsed: {type(exc).__name__}: {exc}"[:200])
    try:
        conn.send(reply)
    except MemoryError:
        conn.send(("fail", "too_large", f"needs more than {memory_mb} MB to read"))
        fatal = True
    return not fatal


class _Worker:
    def __init__(self, context: Any, memory_mb: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, memory_mb), daemon=True, name="docent-reader"
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class IsolatedReader:
    """Reads files in worker processes with per-file time and memory limits.

    Thread-safe: call :meth:`read` from up to ``workers`` threads at once. OCR (see
    ``ocr``) runs inside the same limits; when its time budget is unset, OCR stops
    starting new pages after 3/4 of the time limit, so a long scan ends with its pages
    so far rather than a ``timeout``.
    """

    def __init__(
        self,
        workers: int,
        timeout_seconds: float,
        memory_mb: int,
        *,
        ocr: OcrOptions | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        options = ocr or OcrOptions()
        if options.time_budget_seconds is None:
            budget = timeout_seconds * TIME_SHARE
            options = dataclasses.replace(options, time_budget_seconds=budget)
        self.ocr = options
        self._context = reader_context()
        self._spawn: Callable[[Any, int], _Worker] = _Worker
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._workers = workers
        self._started = 0
        self.restarts = 0
        """Workers replaced after a timeout or crash."""

    def _checkout(self) -> _Worker:
        while True:
            with self._lock:
                if self._idle.empty() and self._started < self._workers:
                    worker = self._spawn(self._context, self.memory_mb)
                    self._started += 1
                    self._all.append(worker)
                    return worker
            idle = self._idle.get()
            if idle is not None:  # None: a slot was freed, start a worker for it
                return idle

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        fresh: _Worker | None
        with self._lock:
            self._all.remove(worker)
            self.restarts += 1
            try:
                fresh = self._spawn(self._context, self.memory_mb)
            except OSError:
                log.warning("event=reader_restart_failed", exc_info=True)
                self._started -= 1  # the next checkout starts one again
                fresh = None
            else:
                self._all.append(fresh)
        self._idle.put(fresh)  # wakes a waiting reader either way

    def read(self, name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome:
        """Read and split one file in a worker.

        Raises:
            FileFailure: the file's reason, or ``timeout`` / ``too_large`` / ``malformed``
                when the worker had to be killed or died.
        """
        result = self.read_many([(name, data)], plan)[0]
        if isinstance(result, FileFailure):
            raise result
        return result

    def read_many(self, files: Sequence[tuple[str, bytes]], plan: ChunkingPlan) -> list[Outcome]:
        """Read several files, each with its own limits; one result per file, in order.

        The files go to one worker in one message and come back one reply each, so small
        files do not pay a process round trip each. Limits stay per file: each reply is
        awaited for the time limit; the file a worker dies or hangs on fails alone, and
        the files after it go to a fresh worker.
        """
        results: list[Outcome] = []
        while len(results) < len(files):
            results += self._read_batch(self._checkout(), files[len(results) :], plan)
        return results

    def _read_batch(
        self, worker: _Worker, files: Sequence[tuple[str, bytes]], plan: ChunkingPlan
    ) -> list[Outcome]:
        """Results for the first files (at least one); the worker is returned or replaced."""
        results: list[Outcome] = []
        try:
            worker.conn.send((list(files), plan, self.ocr))
            for _ in files:
                if not worker.conn.poll(self.timeout_seconds):
                    self._replace(worker)
                    results.append(
                        FileFailure(
                            "timeout",
                            f"reading took longer than {self.timeout_seconds:g} s and was "
                            "stopped (limit: DOCENT_INGEST_FILE_TIMEOUT_SECONDS)",
                        )
                    )
                    return results
                reply = worker.conn.recv()
                if reply[0] == "ok":
                    results.append(reply[1])
                    continue
                results.append(FileFailure(reply[1], reply[2]))
                if not worker.process.is_alive() or reply[1] == "too_large":
                    self._replace(worker)
                    return results
        except (EOFError, OSError, BrokenPipeError):
            code = worker.process.exitcode
            self._replace(worker)
            results.append(
                FileFailure(
                    "malformed",
                    f"the reader crashed on this file (exit code {code}); it cannot be parsed "
                    f"within {self.memory_mb} MB (limit: DOCENT_INGEST_FILE_MEMORY_MB)",
                )
            )
            return results
        self._idle.put(worker)
        return results

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()
