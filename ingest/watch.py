"""Keep a collection in sync with folders (``docent ingest PATH... --watch``).

Built on watchfiles (the OS's file events: inotify, FSEvents, ReadDirectoryChangesW),
never a loop that walks the tree. Each batch of events is reduced to what the folder
looks like *now*, so bursts of saves, partial writes and atomic saves (write a temporary
name, rename it over the file) come out as one change per file::

    events (debounced) ──> per path: exists? ──> wait until size and mtime hold still
        ──> files: Ingestor.ingest (hash-incremental: touched-but-equal is unchanged)
        ──> gone:  delete the document (a folder gone: every document under it)

Editors' temporary files (``.x.swp``, ``x~``, ``#x#``, ``.~lock.x#``, ``x.tmp``,
``x.part``, vim's ``4913``) and hidden files are ignored, as a folder ingest ignores
hidden files. The pipeline is the one every door uses, so a failing file is reported
with its reason code and the watch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from watchfiles import Change, awatch

from ingest.loaders import is_supported
from ingest.pipeline import Ingestor, Progress
from ingest.results import FileResult
from ingest.sources import Discovery, SourceFile, discover
from retrieval.errors import CollectionNotFound, DocumentNotFound, InvalidRequest
from retrieval.store import doc_id_for

logger = logging.getLogger(__name__)

QUIET_SECONDS = 0.3
"""A file counts as written when its size and mtime hold still this long."""
MAX_SETTLE_SECONDS = 60.0
"""A file still changing after this long is ingested as it is (the next event redoes it)."""
_TEMPORARY_SUFFIXES = (".swp", ".swx", ".swo", ".tmp", ".temp", ".part", ".crdownload", "~")


class StopEvent(Protocol):
    def is_set(self) -> bool: ...


def is_temporary(name: str) -> bool:
    """True for names editors and downloaders use for files being written."""
    return (
        name.startswith((".", "#", "~$"))
        or name.endswith(_TEMPORARY_SUFFIXES)
        or (name.endswith("#") and name.startswith("#"))
        or name == "4913"  # vim's probe that a folder is writable
    )


@dataclass
class Watched:
    """The folders of a watch, and the selection of their files (as a folder ingest)."""

    roots: list[Path]
    glob: str | None = None

    def locate(self, path: Path) -> tuple[Path, str] | None:
        """The root of ``path`` and its source (relative, with ``/``); None if ignored."""
        for root in self.roots:
            if path == root or not path.is_relative_to(root):
                continue
            relative = path.relative_to(root)
            if any(is_temporary(part) for part in relative.parts):
                return None
            return root, relative.as_posix()
        return None

    def selects(self, source: str) -> bool:
        if self.glob is None:
            return True
        name = source.rsplit("/", 1)[-1]
        pattern = self.glob.removeprefix("**/")
        return fnmatch.fnmatch(source, self.glob) or fnmatch.fnmatch(name, pattern)

    def keep(self, _change: Change, raw: str) -> bool:
        """Watchfiles' filter: events of paths we may index (folders included)."""
        return self.locate(Path(raw)) is not None


@dataclass
class Batch:
    """What one batch of events means now: files to (re)ingest and sources gone."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    """Sources whose path no longer exists (a file, or a whole folder: ``dir/``)."""


def plan(watched: Watched, changes: set[tuple[Change, str]]) -> Batch:
    """Reduce a batch of events to the current state of each path it names."""
    batch = Batch()
    seen: set[str] = set()
    for _change, raw in sorted(changes, key=lambda c: c[1]):
        located = watched.locate(Path(raw))
        if located is None or raw in seen:
            continue
        seen.add(raw)
        root, source = located
        path = Path(raw)
        if path.is_dir():  # a folder moved in: everything in it, as a folder ingest
            found = discover([path], watched.glob)
            prefix = path.relative_to(root).as_posix()
            for file in found.files:
                batch.files.append(
                    SourceFile(f"{prefix}/{file.source}", path=file.path, root=str(root))
                )
            continue
        if not path.exists():
            batch.gone.append(source)
            continue
        if not watched.selects(source):
            continue
        if watched.glob is None and not is_supported(source):
            batch.skipped.append(
                FileResult(
                    source,
                    "skipped",
                    reason="unsupported_type",
                    message=f"unsupported file type {path.suffix or '(none)'!r}",
                    path=raw,
                )
            )
            continue
        batch.files.append(SourceFile(source, path=path, root=str(root)))
    return batch


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


async def settle(files: Sequence[SourceFile], quiet_seconds: float) -> list[SourceFile]:
    """Wait until every file has stopped changing; the ones still there."""
    deadline = time.monotonic() + MAX_SETTLE_SECONDS
    pending = {f.source: f for f in files if f.path is not None}
    last = {s: _signature(f.path) for s, f in pending.items() if f.path is not None}
    while True:
        await asyncio.sleep(quiet_seconds)
        now = {s: _signature(f.path) for s, f in pending.items() if f.path is not None}
        if now == last or time.monotonic() > deadline:
            return [pending[s] for s, sig in now.items() if sig is not None]
        last = now


class _Lines(Progress):
    """One line per change; unchanged files (touched, same content) say nothing."""

    def __init__(self, report: Callable[[FileResult], None]) -> None:
        self.report = report

    def file_done(self, result: FileResult) -> None:
        if result.status != "unchanged":
            self.report(result)


class FolderSync:
    """Applies batches of file events to one collection through the one ingestor.

    Args:
        ingestor: the runtime's ingestor (its store is written).
        watched: the folders and their selection.
        collection: the collection kept in sync (must exist: the first ingest made it).
        report: called with one result per change (ingested, failed, skipped, removed).
        quiet_seconds: how long a file must hold still before it is read.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        watched: Watched,
        collection: str,
        report: Callable[[FileResult], None],
        quiet_seconds: float = QUIET_SECONDS,
    ) -> None:
        self.ingestor = ingestor
        self.watched = watched
        self.collection = collection
        self.report = report
        self.quiet_seconds = quiet_seconds

    async def apply(self, changes: set[tuple[Change, str]]) -> None:
        """Ingest what changed, remove what is gone.

        Raises:
            CollectionNotFound: the collection was deleted meanwhile (the watch ends).
        """
        batch = await asyncio.to_thread(plan, self.watched, changes)
        await self._check_collection()
        for result in batch.skipped:
            self.report(result)
        for source in batch.gone:
            await self._remove(source)
        files = await settle(batch.files, self.quiet_seconds)
        if files:
            await self.ingestor.ingest(
                Discovery(files=files), collection=self.collection, progress=_Lines(self.report)
            )

    async def _check_collection(self) -> None:
        store, model = self.ingestor.store, self.ingestor.embedder.model
        try:
            await asyncio.to_thread(store.check_embed_model, self.collection, model)
        except CollectionNotFound as exc:
            raise CollectionNotFound(
                f"Collection {self.collection!r} was deleted while it was watched: stopped. "
                "Run `docent ingest` again to rebuild it."
            ) from exc

    async def _remove(self, source: str) -> None:
        store = self.ingestor.store
        doomed = [source]
        records = await asyncio.to_thread(store.list_documents, self.collection)
        doomed += [r.source for r in records if r.source.startswith(f"{source}/")]
        for name in doomed:
            removed = 0
            with contextlib.suppress(DocumentNotFound):  # never indexed (or removed already)
                removed = await asyncio.to_thread(
                    store.delete_document, self.collection, doc_id_for(name)
                )
                self.report(FileResult(name, "removed", removed))


def watched_folders(paths: Sequence[Path], glob: str | None) -> Watched:
    """The folders to watch, resolved.

    Raises:
        InvalidRequest: a path that is not an existing folder.
    """
    roots = []
    for path in paths:
        if not path.is_dir():
            raise InvalidRequest(f"Expected folders to watch, got {str(path)!r}.")
        roots.append(path.expanduser().resolve())
    return Watched(roots, glob)


async def watch_folders(
    ingestor: Ingestor,
    paths: Sequence[Path],
    *,
    collection: str,
    report: Callable[[FileResult], None],
    glob: str | None = None,
    stop_event: StopEvent | None = None,
    quiet_seconds: float = QUIET_SECONDS,
) -> None:
    """Keep ``collection`` in sync with the folders ``paths`` until ``stop_event`` is set.

    Run a folder ingest first (``docent ingest`` does): only changes are seen here.

    Raises:
        InvalidRequest: a path that is not a folder.
        CollectionNotFound: the collection was deleted while watched.
    """
    watched = watched_folders(paths, glob)
    sync = FolderSync(ingestor, watched, collection, report, quiet_seconds)
    logger.info("event=watch_started roots=%s collection=%s", watched.roots, collection)
    async for changes in awatch(
        *watched.roots,
        watch_filter=watched.keep,
        stop_event=stop_event,
        debounce=1600,
        step=100,
        ignore_permission_denied=True,
    ):
        await sync.apply(changes)
    logger.info("event=watch_stopped collection=%s", collection)
