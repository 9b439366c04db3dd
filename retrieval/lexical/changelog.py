"""The change log: how every process's lexical index learns of writes made elsewhere.

Chroma is the source of truth and the only thing processes share (a Chroma server and
several API replicas, or a CLI ingest next to a server). So every write also appends, to a
small log collection in Chroma, an entry naming the chunk ids it touched
(:meth:`ChunkStore.append_change`). Each process's lexical index remembers the log
position (writer time, nanoseconds) up to which it has applied entries, and catches up by
reading only the entries after it.

Entries carry ids, not content: applying one means reading those ids' current state from
Chroma (present: index its text; absent: delete it). So applying is idempotent and order
does not matter, which is what makes a simple time-ordered log safe with several writers:
a reader re-reads a window (:data:`LOOKBACK_NS`) before its position on every poll, so an
entry stamped by a writer whose clock lags, or that reached Chroma late, is still seen; the
entries it already applied in that window are remembered and skipped.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence

from retrieval.store import ChunkStore
from retrieval.types import Chunk

LOOKBACK_NS = 60 * 1_000_000_000
"""How far before its position a reader re-reads the log (clock skew, late writes)."""
RETENTION_NS = 7 * 24 * 3600 * 1_000_000_000
"""Entries older than this are trimmed; a reader further behind reconciles by ids."""
TRIM_EVERY = 1000
"""A writer trims the log once every this many of its appends."""


class ChangeLog:
    """A store subscriber that appends one log entry per chunk write or delete.

    Subscribe it once per store (:func:`track_changes` does) in every process that writes.
    This process's lexical index listens (:attr:`listeners`) and marks its own entries as
    applied: it had the change directly.
    """

    def __init__(self, store: ChunkStore) -> None:
        self._store = store
        self._appended: dict[str, int] = {}
        self.trim_every = TRIM_EVERY
        self.retention_ns = RETENTION_NS
        self.listeners: list[Callable[[str, Sequence[str]], None]] = []
        """Called with (collection, entry ids) after each append: this process's own entries."""

    def changing(self, collection: str) -> None:
        return None  # entries are appended once a change has landed

    def chunks_written(self, collection: str, chunks: Sequence[Chunk]) -> None:
        self._append(collection, [chunk.id for chunk in chunks])

    def chunks_deleted(self, collection: str, ids: Sequence[str]) -> None:
        self._append(collection, list(ids))

    def _append(self, collection: str, ids: list[str]) -> None:
        if not ids:
            return
        entries = self._store.append_change(collection, ids)
        for listener in self.listeners:
            listener(collection, entries)
        self._appended[collection] = self._appended.get(collection, 0) + 1
        if self._appended[collection] % self.trim_every == 0:
            self._store.trim_changes(collection, time.time_ns() - self.retention_ns)

    def collection_dropped(self, collection: str) -> None:
        self._store.drop_changes(collection)


_LOGS: weakref.WeakKeyDictionary[ChunkStore, ChangeLog] = weakref.WeakKeyDictionary()
_LOGS_GUARD = threading.Lock()


def track_changes(store: ChunkStore) -> ChangeLog:
    """The store's change log, subscribed on first use (once per store object)."""
    with _LOGS_GUARD:
        log = _LOGS.get(store)
        if log is None:
            log = ChangeLog(store)
            store.subscribe(log)
            _LOGS[store] = log
        return log


def entry_at(entry_id: str) -> int:
    """When an entry was written (its id starts with the writer time, nanoseconds)."""
    return int(entry_id.split("-", 1)[0])
