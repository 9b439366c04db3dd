"""The lexical index of every collection, kept current in proportion to each change.

- **This process's writes** reach the index directly: it is a :class:`DerivedIndex`
  subscribed to the store, told of each upsert and delete after it reached Chroma, and
  committed before the store's write call returns: a write that returned is seen by every
  later search. Searches never commit: they read the last committed searcher, so a search
  never waits for a write, an analysis or a commit running beside it.
- **Other processes' writes** (a CLI ingest, other API replicas on a Chroma server) reach it
  through the change log in Chroma (:mod:`retrieval.lexical.changelog`): at most every
  ``poll_seconds``, a search reads the entries after the index's position and applies
  them, without waiting when another thread is already doing so.
- **Persisted** in ``<root>/slot-N/<collection>/`` (tantivy files + ``state.json``: the
  Chroma collection id, the analysis, the log position), so a restart opens it and catches
  up from its position. A process claims a free slot with a file lock, so several
  processes on one machine never share a writer.
- **After a crash** the position is only advanced after a commit, so replaying the log
  redoes what was lost. A write that reached Chroma but not the log (a crash in between)
  shows as a chunk count that differs from Chroma's when the index is opened; the index is
  then reconciled by comparing ids (texts are fetched only for the missing chunks).
- **Rebuilt** only when there is nothing to start from: no persisted index, another
  analysis, or a collection that was dropped and created again (new Chroma id).
- **Purged** after deletes: a deleted chunk's terms stay in its tantivy segment's files
  until the segment has no live chunk, so :meth:`LexicalIndexes.purge` rewrites the live
  chunks of the segments holding deletes (texts from Chroma by id) and tantivy drops those
  segments: those whose rewrite is in proportion to their deletes
  (:class:`~retrieval.lexical.purge.PurgePolicy`), or all of them when asked
  (:meth:`LexicalIndexes.erase_deleted`). It runs in the background
  (:mod:`retrieval.lexical.purge`), debounced after writes, and when the index is closed;
  searches keep the committed searcher meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import random
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from retrieval.derived import ChangeEntry
from retrieval.files import replace_json
from retrieval.filters import MetadataFilter
from retrieval.lexical.analyzer import Analyzer, default_analyzer
from retrieval.lexical.changelog import LOOKBACK_NS, entry_at
from retrieval.lexical.engine import TantivyIndex
from retrieval.lexical.purge import (
    EVERY_DELETE,
    PURGE_DELAY_SECONDS,
    PURGE_MAX_DELAY_SECONDS,
    PurgePolicy,
    PurgeScheduler,
)
from retrieval.lexical.segments import deleted_on_disk
from retrieval.types import Chunk

logger = logging.getLogger(__name__)

OWN_ENTRIES_SECONDS = 1.0
"""During a stream of writes, how often the log position is moved past this process's own
entries (a read of the change log; the writes themselves are committed one by one)."""
FETCH_BATCH = 1000
BULK_COMMIT_SECONDS = 5.0
"""How long a bulk ingest's writes may stay uncommitted (:func:`bulk_commits`)."""
MAX_SLOTS = 64
PURGE_ATTEMPTS = 3
"""Passes a synchronous purge makes when merges or writes race it."""


class SlotBusy(RuntimeError):
    """A lexical index slot is held by another process."""


class LexicalSource(Protocol):
    """What the lexical indexes read from the store (``ChunkStore`` provides it)."""

    def collection_id(self, name: str) -> str: ...

    def chunk_count(self, name: str) -> int: ...

    def iter_ids(self, name: str, batch_size: int = 10_000) -> Iterator[str]: ...

    def iter_chunks(self, name: str, batch_size: int = 1000) -> Iterable[Chunk]: ...

    def get_chunks(self, name: str, ids: Sequence[str]) -> list[Chunk]: ...

    def changes_since(self, name: str, after_ns: int) -> list[ChangeEntry]: ...

    def changes_trimmed_before(self, name: str) -> int: ...


@dataclass
class _Collection:
    """One opened collection index and where it stands in the change log."""

    index: TantivyIndex
    collection_id: str
    folder: Path | None
    position: int
    applied: dict[str, int] = field(default_factory=dict)
    polled_at: float = 0.0
    catching_up: threading.Lock = field(default_factory=threading.Lock)
    writing: threading.Lock = field(default_factory=threading.Lock)
    """Held while a change read from Chroma (or told by the store) reaches the index, so
    a purge's rewrite never lands after a newer change of the same chunk."""
    deleted: bool = False
    """Chunks were deleted since the idle slots were last purged."""
    committed_at: float = 0.0
    """``time.monotonic()`` of the last commit."""


class _Background:
    """One daemon thread, started on first use, running the catch-ups searches ask for.

    A thread started per catch-up made the asking search wait until it ran
    (``Thread.start`` waits for that): while an upload held the GIL in call after call,
    that wait was a tenth of the searches' time in a profile. Handing work to a running
    thread costs a lock and a notify.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._work: deque[Callable[[], None]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], None]) -> None:
        with self._wake:
            self._work.append(work)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._work:
                    self._wake.wait()
                work = self._work.popleft()
            work()  # catches its own errors


class LexicalIndexes:
    """The lexical (BM25, tantivy) index of each collection; a store subscriber.

    Thread-safe; blocking (call from a worker thread in async code).

    Args:
        store: chunks, counts and the change log.
        root: folder for persisted indexes; None keeps them in memory (tests, ephemeral
            stores; a restart then rebuilds).
        analyzer: tokenisation; defaults to :func:`default_analyzer`.
        poll_seconds: how often a search looks for other processes' changes.
        purge_delay, purge_max_delay: when deleted chunks' terms are purged from disk
            (:class:`~retrieval.lexical.purge.PurgeScheduler`).
        purge_policy: which segments holding deletes a purge rewrites.
        slot: take exactly this slot of ``root`` (an idle one being purged), not the first
            free one; raises :class:`SlotBusy` when a process holds it.
    """

    def __init__(
        self,
        store: LexicalSource,
        root: Path | None,
        analyzer: Analyzer | None = None,
        *,
        poll_seconds: float = 1.0,
        purge_delay: float = PURGE_DELAY_SECONDS,
        purge_max_delay: float = PURGE_MAX_DELAY_SECONDS,
        purge_policy: PurgePolicy = PurgePolicy(),
        slot: Path | None = None,
    ) -> None:
        self._store = store
        self.purge_policy = purge_policy
        self.analyzer = analyzer or default_analyzer()
        self.poll_seconds = poll_seconds
        self._slot_lock: IO[str] | None = None
        self._sweeps = slot is None
        if root is None:
            self._root = None
        elif slot is None:
            self._root = self._claim_slot(root)
        elif not self._try_claim(slot):
            raise SlotBusy(f"Lexical index slot {slot} is in use by another process.")
        else:
            self._root = slot
        self._open: dict[str, _Collection] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._purges = (
            None
            if self._root is None
            else PurgeScheduler(self._purge_due, delay=purge_delay, max_delay=purge_max_delay)
        )
        self.purged = 0
        """Chunks rewritten by purges (the cost of erasing deleted chunks' terms)."""
        self.builds = 0
        """Full builds from Chroma (first open, or nothing usable persisted)."""
        self.reconciles = 0
        """Id comparisons with Chroma after a count mismatch on open."""
        self._background = _Background("lexical-catch-up")
        self._commit_delay = 0.0
        """See :meth:`commits_deferred` (0: a write is committed before the store returns)."""

    def own_entries(self, collection: str, entry_ids: Sequence[str]) -> None:
        """This process logged these entries for writes it applied directly: skip them."""
        opened = self._open.get(collection)
        if opened is not None:
            opened.applied.update((entry, entry_at(entry)) for entry in entry_ids)

    @property
    def folder(self) -> Path | None:
        """This process's slot: where its indexes persist (None: in memory)."""
        return self._root

    # -- searching -----------------------------------------------------------------------

    def search(
        self, collection: str, query: str, k: int, where: MetadataFilter | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` best (chunk id, BM25 score) pairs of ``collection`` for ``query``."""
        opened = self._opened(collection)
        if time.monotonic() - opened.polled_at >= self.poll_seconds:
            self._catch_up_in_background(collection, opened)
        # the committed searcher: every write that returned is in it, and a write, analysis
        # or commit still running beside this search is not waited for
        return opened.index.search(query, k, where or MetadataFilter())

    def refresh(self, collection: str) -> None:
        """Apply every change logged so far and commit (waits for a running catch-up)."""
        opened = self._opened(collection)
        self._catch_up(collection, opened, wait=True)
        self._commit(collection, opened)

    @contextlib.contextmanager
    def commits_deferred(self, seconds: float) -> Iterator[None]:
        """Meanwhile, commit a collection's writes at most every ``seconds``; all at the end.

        For a process that does not search its own writes meanwhile (``docent ingest``):
        a commit per write (30-80 ms here, more than half of the index's time in a
        write-bound ingest) buys read-your-writes that it does not need. A crash loses
        nothing: every write is in the change log, and the next open replays what was
        not committed (the saved position is only moved by a commit).
        """
        self._commit_delay = seconds
        try:
            yield
        finally:
            self._commit_delay = 0.0
            for collection, opened in list(self._open.items()):
                if opened.index.dirty:
                    self._commit(collection, opened)

    # -- the store's notifications (DerivedIndex) ------------------------------------------

    def changing(self, collection: str) -> None:
        """Open the collection's index before this process first changes it.

        Opened after the change instead, the index caught up from the log would lack
        the change (not logged yet), its count would differ from Chroma's, and the open
        would compare every chunk id with Chroma's: a whole-collection read on the first
        write of every ``docent ingest``.
        """
        self._opened(collection)

    def chunks_written(self, collection: str, chunks: Sequence[Chunk]) -> None:
        opened = self._opened(collection)
        documents = opened.index.documents(chunks)  # the analysis: before any lock
        with opened.writing:
            opened.index.add_documents(documents)
        self._commit_written(collection, opened)
        self._changed(collection)

    def chunks_deleted(self, collection: str, ids: Sequence[str]) -> None:
        opened = self._opened(collection)
        with opened.writing:
            opened.index.delete(ids)
            opened.deleted = True
        self._commit_written(collection, opened)
        self._changed(collection)

    def collection_dropped(self, collection: str) -> None:
        self.forget(collection)

    def size(self, collection: str) -> int:
        """How many chunks the committed index holds (no Chroma call)."""
        return len(self._opened(collection).index)

    def sample_ids(self, collection: str, n: int, seed: int = 0) -> list[str]:
        """About ``n`` chunk ids drawn uniformly from the persisted index ([] in memory).

        For statistics over a large collection: Chroma can only page by offset, which
        costs in proportion to the offset (3 s for a page at 1.2M chunks here).
        """
        return self._opened(collection).index.sample_ids(n, random.Random(seed))

    def indexed_ids(self, collection: str) -> set[str]:
        opened = self._opened(collection)
        if opened.index.dirty:
            self._commit(collection, opened)
        return opened.index.ids()

    def rebuild(self, collection: str, chunks: Iterable[Chunk]) -> None:
        opened = self._opened(collection)
        with opened.catching_up, opened.writing:
            position = time.time_ns()
            opened.index.clear()
            self._upsert_batched(opened.index, chunks)
            opened.position = position
            self._commit(collection, opened)

    def forget(self, collection: str) -> None:
        """Close and delete the index of ``collection`` (the collection was dropped)."""
        if self._purges is not None:
            self._purges.forget(collection)
        with self._lock(collection):
            opened = self._open.pop(collection, None)
            if opened is not None:
                with opened.catching_up:
                    opened.index.close()
            if self._root is not None:
                shutil.rmtree(self._root / collection, ignore_errors=True)

    def close(self) -> None:
        """Commit, purge and release every index (and this process's slot)."""
        if self._purges is not None:
            self._purges.close()
        for collection in list(self._open):
            with self._lock(collection):
                opened = self._open.get(collection)
                if opened is not None:
                    # own entries are skipped, so this mostly moves the position to the end
                    self._catch_up(collection, opened, wait=True)
                    self._purge_before_close(collection, opened)
                    del self._open[collection]
                    with opened.catching_up:
                        opened.index.close()
                        self._save_state(opened)
        if self._slot_lock is not None:
            self._slot_lock.close()
            self._slot_lock = None

    # -- purging deleted chunks' terms from disk -------------------------------------------

    def purge(self, collection: str, policy: PurgePolicy | None = None) -> bool:
        """Erase deleted chunks' terms from the persisted index of ``collection``.

        Rewrites the live chunks that share a tantivy segment with deleted ones (their
        texts read from Chroma by id, as a catch-up applies a change), so those segments
        hold no live chunk and tantivy drops them and their files at the commit: the
        segments ``policy`` (default :attr:`purge_policy`) finds worth it. Searches keep
        using the committed searcher meanwhile. True when no such segment is left; False
        when merges or concurrent writes left some (the scheduler tries again).
        """
        opened = self._opened(collection)
        if opened.folder is None:
            return True
        due = (policy or self.purge_policy).due
        started, rewritten = time.perf_counter(), 0
        for _ in range(PURGE_ATTEMPTS):
            ids = opened.index.tombstoned_ids(due)
            if ids == []:
                opened.index.collect_garbage()
                if rewritten:
                    logger.info(
                        "event=lexical_purged collection=%s rewritten=%d seconds=%.2f",
                        collection,
                        rewritten,
                        time.perf_counter() - started,
                    )
                return True
            if ids:
                self._apply(collection, opened, ids)
                self._commit(collection, opened)
                rewritten += len(ids)
                self.purged += len(ids)
        return False

    def deleted_on_disk(self, collection: str) -> int:
        """Deleted chunks whose terms the persisted index of ``collection`` still holds."""
        folder = self._opened(collection).index.folder
        return 0 if folder is None else deleted_on_disk(folder)

    def erase_deleted(self, collection: str) -> bool:
        """Purge every segment holding a delete now, whatever the rewrite costs.

        True when no deleted chunk's terms are left in the files of ``collection``.
        """
        done = self.purge(collection, EVERY_DELETE)
        self.purge_idle_slots(collection, EVERY_DELETE)
        return done and self.deleted_on_disk(collection) == 0

    def purge_idle_slots(self, collection: str, policy: PurgePolicy | None = None) -> int:
        """Purge ``collection`` in this machine's slots that no process holds; how many.

        Another process's copy (a ``docent ask`` beside a server, a replica that stopped)
        would keep a chunk deleted since until that slot is opened again. Each idle copy
        catches up from the change log (in proportion to the changes since its position)
        and is purged; a copy that could not be reused (another analysis, a collection
        created again) is deleted: it would be rebuilt on open anyway.
        """
        if self._root is None or not self._sweeps:
            return 0
        swept = 0
        for slot in sorted(self._root.parent.glob("slot-*")):
            folder = slot / collection
            if slot == self._root or not folder.is_dir():
                continue
            try:
                idle = LexicalIndexes(
                    self._store,
                    self._root.parent,
                    self.analyzer,
                    purge_delay=3600,
                    purge_policy=policy or self.purge_policy,
                    slot=slot,
                )
            except SlotBusy:
                continue  # its process purges it
            try:
                if self._reusable(_read_state(folder), self._store.collection_id(collection)):
                    idle.purge(collection)
                else:
                    shutil.rmtree(folder, ignore_errors=True)
                swept += 1
            finally:
                idle.close()
        return swept

    def _reusable(self, state: dict[str, object] | None, collection_id: str) -> bool:
        """Whether a persisted index's ``state.json`` matches the collection and analysis."""
        return (
            state is not None
            and state.get("collection_id") == collection_id
            and state.get("analyzer") == self.analyzer.signature
        )

    def pending_purges(self) -> list[str]:
        """Collections whose deleted chunks' terms may still be on disk (purge scheduled)."""
        return [] if self._purges is None else self._purges.pending()

    def _changed(self, collection: str) -> None:
        if self._purges is not None:
            self._purges.changed(collection)

    def _purge_due(self, collection: str) -> bool:
        if collection not in self._open:  # forgotten or closed meanwhile
            return True
        opened = self._open[collection]
        deleted, opened.deleted = opened.deleted, False
        done = self.purge(collection)
        if deleted:  # chunks were deleted: idle copies still hold them
            self.purge_idle_slots(collection)
        if not done:
            opened.deleted = opened.deleted or deleted
        return done

    def _purge_before_close(self, collection: str, opened: _Collection) -> None:
        """A process that exits (a CLI ingest) leaves no deleted chunk's terms behind."""
        if opened.folder is None:
            return
        try:
            if not self.purge(collection):
                logger.warning("event=lexical_purge_incomplete collection=%s", collection)
        except Exception:  # the next process to open it purges (it schedules one on open)
            logger.exception("event=lexical_purge_failed collection=%s", collection)

    # -- opening -------------------------------------------------------------------------

    def _opened(self, collection: str) -> _Collection:
        opened = self._open.get(collection)
        if opened is not None:
            return opened
        with self._lock(collection):
            opened = self._open.get(collection)
            if opened is None:
                opened = self._load(collection)
                self._open[collection] = opened
                self._changed(collection)  # deletes left unpurged by an earlier process
            return opened

    def _load(self, collection: str) -> _Collection:
        collection_id = self._store.collection_id(collection)
        folder = None if self._root is None else self._root / collection
        state = _read_state(folder)
        usable = self._reusable(state, collection_id)
        if not usable and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        index = TantivyIndex(None if folder is None else folder / "index", self.analyzer)
        opened = _Collection(index, collection_id, folder, position=0)
        position = None if state is None else state.get("position")
        if usable and isinstance(position, int):
            opened.position = position
            applied = None if state is None else state.get("applied")
            if isinstance(applied, dict):
                opened.applied = {str(k): int(v) for k, v in applied.items()}
            self._catch_up(collection, opened, wait=True)
            self._reconcile_if_counts_differ(collection, opened)
        else:
            self._build(collection, opened)
        self._commit(collection, opened)
        return opened

    def _build(self, collection: str, opened: _Collection) -> None:
        """Index every chunk of the collection (first open: nothing persisted to start from)."""
        started = time.perf_counter()
        opened.position = time.time_ns()  # entries from here on are replayed: idempotent
        count = self._upsert_batched(opened.index, self._store.iter_chunks(collection))
        self.builds += 1
        logger.info(
            "event=lexical_build collection=%s chunks=%d seconds=%.1f",
            collection,
            count,
            time.perf_counter() - started,
        )

    def _reconcile_after_gap(self, collection: str, opened: _Collection) -> None:
        """The log was trimmed past this index's position: compare ids with Chroma."""
        position = time.time_ns()  # entries from here on are read as usual
        self._reconcile(collection, opened)
        opened.position = max(opened.position, position)

    def _reconcile_if_counts_differ(self, collection: str, opened: _Collection) -> None:
        if opened.index.dirty:
            self._commit(collection, opened)
        if self._store.chunk_count(collection) != len(opened.index):
            self._reconcile(collection, opened)

    def _reconcile(self, collection: str, opened: _Collection) -> None:
        if opened.index.dirty:
            self._commit(collection, opened)
        indexed = opened.index.ids()
        present = set(self._store.iter_ids(collection))
        missing = [i for i in present if i not in indexed]
        extra = [i for i in indexed if i not in present]
        with opened.writing:
            opened.index.delete(extra)
            opened.deleted = opened.deleted or bool(extra)
        self._apply(collection, opened, missing)
        self.reconciles += 1
        logger.warning(
            "event=lexical_reconciled collection=%s added=%d removed=%d",
            collection,
            len(missing),
            len(extra),
        )

    # -- catching up from the change log -------------------------------------------------

    def _catch_up_in_background(self, collection: str, opened: _Collection) -> None:
        """Start a catch-up unless one runs: searches never wait for the log."""
        if opened.catching_up.locked():
            return
        opened.polled_at = time.monotonic()

        def run() -> None:
            try:
                if self._store.collection_id(collection) != opened.collection_id:
                    self.forget(collection)  # dropped and created again elsewhere: reopen
                    return
                self._catch_up(collection, opened, wait=False)
                if opened.index.dirty:
                    self._commit(collection, opened)
            except Exception:  # the next poll retries; searches go on with what is committed
                logger.exception("event=lexical_catch_up_failed collection=%s", collection)

        self._background.submit(run)

    def _catch_up(self, collection: str, opened: _Collection, *, wait: bool) -> None:
        if not opened.catching_up.acquire(blocking=wait):
            return  # another thread is at it
        try:
            opened.polled_at = time.monotonic()
            if self._store.changes_trimmed_before(collection) > opened.position:
                self._reconcile_after_gap(collection, opened)
            entries = self._store.changes_since(collection, opened.position - LOOKBACK_NS)
            fresh = [e for e in entries if e.id not in opened.applied]
            ids: dict[str, None] = {}
            for entry in fresh:
                ids.update(dict.fromkeys(entry.ids))
            self._apply(collection, opened, list(ids))
            opened.applied.update((entry.id, entry.at) for entry in fresh)
            if entries:
                opened.position = max(opened.position, entries[-1].at)
            horizon = opened.position - LOOKBACK_NS
            opened.applied = {i: at for i, at in opened.applied.items() if at > horizon}
        finally:
            opened.catching_up.release()

    def _apply(self, collection: str, opened: _Collection, ids: list[str]) -> None:
        """Make ``ids`` in the index what they are in Chroma now (present or gone)."""
        for start in range(0, len(ids), FETCH_BATCH):
            part = ids[start : start + FETCH_BATCH]
            with opened.writing:
                found = self._store.get_chunks(collection, part)
                present = {chunk.id for chunk in found}
                gone = [i for i in part if i not in present]
                opened.index.delete(gone)
                opened.index.upsert(found)
                opened.deleted = opened.deleted or bool(gone)
        if ids:
            self._changed(collection)

    # -- committing and state ------------------------------------------------------------

    def _commit_written(self, collection: str, opened: _Collection) -> None:
        """Commit a write of this process before the store's call returns (read your writes).

        Unless commits are deferred (:meth:`commits_deferred`). tantivy's commit releases
        the GIL: only the writing thread waits for it.
        """
        if time.monotonic() - opened.polled_at >= OWN_ENTRIES_SECONDS:
            self._catch_up(collection, opened, wait=False)  # moves the position past own writes
        if time.monotonic() - opened.committed_at < self._commit_delay:
            return  # committed by a later write, or when the deferral ends
        self._commit(collection, opened)

    def _commit(self, collection: str, opened: _Collection) -> None:
        # read before the commit, so that the state never claims more than is durable
        position, applied = opened.position, dict(opened.applied)
        opened.index.commit()
        opened.committed_at = time.monotonic()
        self._save_state(opened, position, applied)

    def _save_state(
        self,
        opened: _Collection,
        position: int | None = None,
        applied: dict[str, int] | None = None,
    ) -> None:
        if opened.folder is None:
            return
        state = {
            "collection_id": opened.collection_id,
            "analyzer": self.analyzer.signature,
            "position": opened.position if position is None else position,
            # the entries of the window that is read again which this index already has
            "applied": opened.applied if applied is None else applied,
        }
        try:
            replace_json(opened.folder / "state.json", state)
        except OSError as exc:  # a full disk costs a longer catch-up next time, not a failure
            logger.warning("event=lexical_state_failed folder=%s error=%s", opened.folder, exc)

    def _upsert_batched(self, index: TantivyIndex, chunks: Iterable[Chunk]) -> int:
        count = 0
        batch: list[Chunk] = []
        for chunk in chunks:
            batch.append(chunk)
            if len(batch) >= FETCH_BATCH:
                count += index.upsert(batch)
                batch = []
        return count + index.upsert(batch)

    def _try_claim(self, slot: Path) -> bool:
        handle = _try_claim_lock(slot)
        if handle is not None:
            self._slot_lock = handle
        return handle is not None

    def _lock(self, collection: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(collection, threading.Lock())

    def _claim_slot(self, root: Path) -> Path:
        """A folder under ``root`` that no other process on this machine is using."""
        root.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_SLOTS):
            slot = root / f"slot-{n}"
            if self._try_claim(slot):
                return slot
        raise RuntimeError(
            f"All {MAX_SLOTS} lexical index slots under {root} are in use by other processes."
        )


def _try_claim_lock(slot: Path) -> IO[str] | None:
    slot.mkdir(parents=True, exist_ok=True)
    handle = (slot / "lock").open("a", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _read_state(folder: Path | None) -> dict[str, object] | None:
    if folder is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if isinstance(state, dict):
            return state
    return None


@contextlib.contextmanager
def bulk_commits(derived: Iterable[object], seconds: float = BULK_COMMIT_SECONDS) -> Iterator[None]:
    """:meth:`LexicalIndexes.commits_deferred` for the lexical ones of ``derived``.

    ``derived``: a store's derived indexes (:attr:`retrieval.store.ChunkStore.derived`).
    """
    with contextlib.ExitStack() as stack:
        for index in derived:
            if isinstance(index, LexicalIndexes):
                stack.enter_context(index.commits_deferred(seconds))
        yield
