"""What an ingest run reports: per-file outcomes with stable reason codes, and totals.

Also the callbacks that show them while it runs (:class:`Progress`). Light to import: the
CLI loads it before the rest of Docent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Reason = Literal[
    "encrypted",
    "no_text",
    "malformed",
    "too_large",
    "unsupported_type",
    "timeout",
    "empty",
    "unreadable",
    "embedding_failed",
]
"""Why a file was not ingested. Stable codes: tools match on them."""

FileStatus = Literal["ingested", "unchanged", "failed", "skipped", "removed", "planned"]
"""``skipped``: an unsupported file met while walking a folder (does not fail the run);
``planned``: would be ingested (``--dry-run``)."""


class FileFailure(Exception):
    """A file cannot be ingested; ``reason`` is one of :data:`Reason`."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (FileFailure, (self.reason, self.message))


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file."""

    source: str
    status: FileStatus
    chunks: int = 0
    reason: Reason | None = None
    message: str = ""
    path: str = ""
    notes: tuple[str, ...] = ()


@dataclass
class IngestReport:
    """Totals of a run; :meth:`to_json` is the ``--json`` report."""

    results: list[FileResult] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    embedding_calls: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    reindex: Literal["switched", "kept_old"] | None = None
    """After ``--reindex``: the new index replaced the old one, or a file failed to embed
    and the old index was kept."""

    def count(self, status: FileStatus) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        ingested = self.count("planned") if self.dry_run else self.count("ingested")
        return {
            "files": {
                "ingested": ingested,
                "unchanged": self.count("unchanged"),
                "failed": self.count("failed"),
                "removed": self.count("removed"),
                "skipped": self.count("skipped"),
            },
            "chunks": {"added": self.chunks_added, "removed": self.chunks_removed},
            "embedding_calls": self.embedding_calls,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
            "reindex": self.reindex,
            "failures": [
                {"path": r.path or r.source, "reason": r.reason, "message": r.message}
                for r in self.failures
            ],
            "skipped": [
                {"path": r.path or r.source, "reason": r.reason, "message": r.message}
                for r in self.results
                if r.status == "skipped"
            ],
        }


class Progress:
    """Callbacks of a run; the default does nothing. The CLI renders them."""

    def started(self, files: int) -> None:
        """The run knows how many files it has."""

    def file_done(self, result: FileResult) -> None:
        """A file is finished (any status)."""

    def embedded(self, chunks: int) -> None:
        """``chunks`` more chunks were embedded."""
