"""How a run shows progress: a rich bar on a terminal, plain lines otherwise.

It imports neither the pipeline nor rich up front: ``docent ingest`` enters it before it
imports the rest of Docent (see :func:`api.cli.ingest.run_ingest`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from ingest.results import FileResult, Progress

if TYPE_CHECKING:  # rich is imported only for a terminal: a pipe gets plain lines
    from rich.console import Console
    from rich.progress import TaskID


def describe(result: FileResult) -> str:
    """One line for a finished file, e.g. ``failed a.pdf: encrypted: password required``."""
    if result.status in ("failed", "skipped"):
        return f"{result.status} {result.source}: {result.reason}: {result.message}"
    line = f"{result.status} {result.source}"
    if result.status in ("ingested", "unchanged", "removed"):
        line += f" ({result.chunks} chunks)"
    if result.notes:
        line += " [" + "; ".join(result.notes) + "]"
    return line


LINE_DELAY_SECONDS = 0.05
"""The longest a finished file's line waits to be written with the lines after it."""


class LineProgress(Progress):
    """One plain line per finished file (for logs and pipes).

    Lines are written together, at most :data:`LINE_DELAY_SECONDS` after the first of
    them: one write per line was a tenth of an unchanged re-ingest of 10,000 files.
    Call :meth:`flush` at the end (:func:`progress_display` does).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lines: list[str] = []

    def file_done(self, result: FileResult) -> None:
        self._lines.append(describe(result))
        if len(self._lines) > 1:
            return  # the first line of the batch has a flush coming
        try:
            asyncio.get_running_loop().call_later(LINE_DELAY_SECONDS, self.flush)
        except RuntimeError:  # no event loop to call it later: write it now
            self.flush()

    def flush(self) -> None:
        """Write the lines waiting, if any."""
        if self._lines:
            lines, self._lines = self._lines, []
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()


class BarProgress(Progress):
    """A rich progress bar: files, chunks embedded, embeddings/s, ETA; problems above it."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichBar

        self.console = console
        self.bar = RichBar(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[chunks]} chunks, {task.fields[rate]:.1f} emb/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None
        self.chunks = 0
        self.start = time.perf_counter()

    def __enter__(self) -> BarProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def started(self, files: int) -> None:
        self.start = time.perf_counter()
        self.task = self.bar.add_task("ingest", total=files, chunks=0, rate=0.0)

    def file_done(self, result: FileResult) -> None:
        if result.status in ("failed", "skipped"):
            self.console.print(describe(result), markup=False, highlight=False)
        if self.task is not None and result.status not in ("removed", "skipped"):
            self.bar.advance(self.task)

    def embedded(self, chunks: int) -> None:
        self.chunks += chunks
        rate = self.chunks / max(1e-6, time.perf_counter() - self.start)
        if self.task is not None:
            self.bar.update(self.task, chunks=self.chunks, rate=rate)


@contextmanager
def progress_display(stream: TextIO) -> Iterator[Progress]:
    """A bar on a terminal (stopped on exit, whatever happens), plain lines otherwise."""
    if stream.isatty():
        from rich.console import Console

        with BarProgress(Console(file=stream)) as bar:
            yield bar
    else:
        lines = LineProgress(stream)
        try:
            yield lines
        finally:
            lines.flush()
