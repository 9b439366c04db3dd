"""The persisted job table: one SQLite file beside the store, so jobs survive a restart.

Two tables: ``jobs`` (one row per job: what to ingest, its state, timestamps) and
``job_files`` (one row per finished file, keyed by source, so a resumed job keeps what
it already did). SQLite in WAL mode: a file's row costs a fraction of a millisecond, and
the runner writes them in batches from a thread, never on the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import platformdirs

from ingest.results import FileResult, FileStatus, Reason
from retrieval.settings import Settings

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL_STATES: frozenset[JobState] = frozenset({"succeeded", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    total INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT
);
CREATE TABLE IF NOT EXISTS job_files (
    job_id TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    reason TEXT,
    message TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (job_id, source, status)
);
"""


def jobs_folder(settings: Settings) -> Path:
    """Where the job table and waiting uploads live (see ``DOCENT_INGEST_JOBS_PATH``)."""
    if settings.ingest.jobs_path is not None:
        return Path(settings.ingest.jobs_path).expanduser()
    if settings.chroma.is_server:
        return Path(platformdirs.user_data_dir("docent")) / "jobs"
    return Path(settings.chroma.path).expanduser() / "jobs"


@dataclass(frozen=True)
class JobSpec:
    """What a job ingests: server-side ``paths`` (with glob, sync), or an upload folder."""

    kind: Literal["paths", "uploads"]
    paths: tuple[str, ...]
    glob: str | None = None
    sync: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "paths": list(self.paths), "glob": self.glob, "sync": self.sync}
        )

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        return cls(data["kind"], tuple(data["paths"]), data.get("glob"), bool(data["sync"]))


@dataclass
class Job:
    """One job as the runner and the API see it; ``results`` are keyed by source."""

    id: str
    collection: str
    spec: JobSpec
    state: JobState = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    total: int = 0
    error_code: str | None = None
    error_message: str | None = None
    results: dict[tuple[str, str], FileResult] = field(default_factory=dict)
    """Finished files by (source, kind): kind ``removed`` apart, as sync removes by name."""

    tally: Counter[str] = field(default_factory=Counter)
    """Files by status, and ``chunks:<status>``: kept as results come in."""

    def record(self, result: FileResult) -> FileResult:
        """Keep ``result``; a resumed job keeps ``ingested`` for a file it finished before."""
        key = (result.source, "removed" if result.status == "removed" else "file")
        before = self.results.get(key)
        if before is not None:
            if before.status == "ingested" and result.status == "unchanged":
                return before
            self.tally[before.status] -= 1
            self.tally[f"chunks:{before.status}"] -= before.chunks
        self.results[key] = result
        self.tally[result.status] += 1
        self.tally[f"chunks:{result.status}"] += result.chunks
        return result

    def count(self, status: FileStatus) -> int:
        return self.tally[status]

    def chunks(self, status: FileStatus) -> int:
        """Chunks of the files of ``status`` (``ingested``: added; ``removed``: removed)."""
        return self.tally[f"chunks:{status}"]

    @property
    def processed(self) -> int:
        """Files finished (removed documents are not files of this run)."""
        return len(self.results) - self.tally["removed"]


class JobTable:
    """The SQLite job table (thread-safe: one connection, one lock; call from threads)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._lock = threading.Lock()
        self._db = sqlite3.connect(folder / "jobs.sqlite3", check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def insert(self, job: Job) -> None:
        """Add a new job, durably (committed before this returns)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO jobs (id, collection, spec, state, created_at) VALUES (?,?,?,?,?)",
                (job.id, job.collection, job.spec.to_json(), job.state, job.created_at),
            )

    def save(self, job: Job, results: Iterable[FileResult] = ()) -> None:
        """Write the job's row and newly finished files in one transaction."""
        rows = [
            (job.id, r.source, r.status, r.chunks, r.reason, r.message, r.path) for r in results
        ]
        with self._lock, self._db:
            self._db.execute(
                "UPDATE jobs SET state=?, started_at=?, finished_at=?, total=?, error_code=?, "
                "error_message=? WHERE id=?",
                (
                    job.state,
                    job.started_at,
                    job.finished_at,
                    job.total,
                    job.error_code,
                    job.error_message,
                    job.id,
                ),
            )
            # a resumed job's later verdict replaces the earlier one of that file
            self._db.executemany(
                "DELETE FROM job_files WHERE job_id=? AND source=? AND status!='removed'",
                [(row[0], row[1]) for row in rows if row[2] != "removed"],
            )
            self._db.executemany("INSERT OR REPLACE INTO job_files VALUES (?,?,?,?,?,?,?)", rows)

    def load(self, states: Sequence[JobState] | None = None) -> list[Job]:
        """Jobs (in submission order), with their finished files; only ``states`` if given."""
        with self._lock:
            query = "SELECT id, collection, spec, state, created_at, started_at, finished_at, "
            query += "total, error_code, error_message FROM jobs"
            params: tuple[Any, ...] = ()
            if states:
                query += f" WHERE state IN ({','.join('?' * len(states))})"
                params = tuple(states)
            rows = self._db.execute(query + " ORDER BY seq", params).fetchall()
            files = self._db.execute(
                "SELECT job_id, source, status, chunks, reason, message, path FROM job_files"
            ).fetchall()
        jobs = {
            row[0]: Job(
                id=row[0],
                collection=row[1],
                spec=JobSpec.from_json(row[2]),
                state=cast(JobState, row[3]),
                created_at=row[4],
                started_at=row[5],
                finished_at=row[6],
                total=row[7],
                error_code=row[8],
                error_message=row[9],
            )
            for row in rows
        }
        for job_id, source, status, chunks, reason, message, path in files:
            job = jobs.get(job_id)
            if job is not None:
                job.record(
                    FileResult(
                        source,
                        cast(FileStatus, status),
                        chunks,
                        cast(Reason | None, reason),
                        message,
                        path,
                    )
                )
        return list(jobs.values())
