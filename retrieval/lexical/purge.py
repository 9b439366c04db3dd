"""When to purge deleted chunks' terms from a collection's persisted lexical index.

A delete makes a chunk unsearchable at once (a tombstone), but its terms stay in the
files of its tantivy segment until that segment has no live document left. The purge
(:meth:`retrieval.lexical.indexes.LexicalIndexes.purge`) rewrites the live chunks of the
segments holding deletes, so tantivy drops those segments and their files.

Rewriting costs the segment's live chunks, and tantivy merges segments into large ones
(tantivy-py cannot bound that): purging one deleted chunk of a 100,000-chunk segment took
24 s. So :class:`PurgePolicy` purges a segment only when the rewrite is in proportion to
its deletes: a small segment (recent writes) at once, a large one once a tenth of it is
deleted. A full purge (``docent check COLLECTION --purge``) rewrites every segment
holding a delete, whatever it costs.

:class:`PurgeScheduler` runs it off the hot path, on one background thread, debounced: a
collection is purged once its writes have paused for ``delay`` seconds, and at the latest
``max_delay`` seconds after the first change that is not purged yet (a steady stream of
writes cannot postpone it for ever). A purge that cannot finish (a merge raced it, Chroma
was unreachable) is tried again ``delay`` seconds later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from retrieval.lexical.segments import Segment

logger = logging.getLogger(__name__)

PURGE_DELAY_SECONDS = 2.0
"""Quiet time after a collection's last write before its purge runs."""
PURGE_MAX_DELAY_SECONDS = 30.0
"""Longest wait between a change and the start of the purge that covers it."""


PURGE_SMALL_SEGMENT = 2_000
"""A segment holding a delete with at most this many live chunks is purged at once
(about 0.4 s of rewriting here)."""
PURGE_REWRITES_PER_DELETE = 9
"""A larger segment is purged once it holds a delete for every this-many live chunks (a
tenth of it deleted): the rewrite costs at most this many chunks per deleted one."""


@dataclass(frozen=True)
class PurgePolicy:
    """Which segments holding deletes are worth rewriting now (cost in proportion)."""

    small_segment: int = PURGE_SMALL_SEGMENT
    rewrites_per_delete: int = PURGE_REWRITES_PER_DELETE

    def due(self, segment: Segment) -> bool:
        """Whether rewriting ``segment``'s live chunks is in proportion to its deletes."""
        allowed = max(self.small_segment, self.rewrites_per_delete * segment.deleted)
        return segment.deleted > 0 and segment.live <= allowed


EVERY_DELETE = PurgePolicy(small_segment=2**62)
"""A full purge: every segment holding a delete, whatever its size."""


@dataclass
class _Due:
    first: float
    last: float


class PurgeScheduler:
    """Calls ``run(collection)`` on a background thread, debounced per collection.

    ``run`` returns True when the collection is purged, False to be tried again later.
    """

    def __init__(
        self,
        run: Callable[[str], bool],
        *,
        delay: float = PURGE_DELAY_SECONDS,
        max_delay: float = PURGE_MAX_DELAY_SECONDS,
    ) -> None:
        self._run = run
        self.delay = delay
        self.max_delay = max(delay, max_delay)
        self._due: dict[str, _Due] = {}
        self._running: str | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def changed(self, collection: str) -> None:
        """A write reached ``collection``'s index: purge it once writes pause."""
        now = time.monotonic()
        with self._wake:
            if self._closed:
                return
            due = self._due.get(collection)
            if due is None:
                self._due[collection] = _Due(first=now, last=now)
            else:
                due.last = now
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="lexical-purge", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def forget(self, collection: str) -> None:
        """``collection`` is gone: nothing to purge."""
        with self._wake:
            self._due.pop(collection, None)

    def pending(self) -> list[str]:
        """Collections with changes not purged yet (including one being purged)."""
        with self._wake:
            running = [] if self._running is None else [self._running]
            return sorted({*self._due, *running})

    def close(self) -> list[str]:
        """Stop the thread (after a running purge); returns what was still pending."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._wake:
            pending, self._due = sorted(self._due), {}
            return pending

    def _when(self, due: _Due) -> float:
        return min(due.last + self.delay, due.first + self.max_delay)

    def _next(self) -> str | None:
        """Wait for the next collection that is due; None once closed."""
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                ready = [(self._when(d), c) for c, d in self._due.items()]
                if ready:
                    when, collection = min(ready)
                    if when <= now:
                        del self._due[collection]
                        self._running = collection
                        return collection
                    self._wake.wait(when - now)
                else:
                    self._wake.wait()
            return None

    def _loop(self) -> None:
        while (collection := self._next()) is not None:
            done = False
            try:
                done = self._run(collection)
            except Exception:  # tried again later; searches go on meanwhile
                logger.exception("event=lexical_purge_failed collection=%s", collection)
            with self._wake:
                self._running = None
                if not done and not self._closed and collection not in self._due:
                    now = time.monotonic()
                    self._due[collection] = _Due(first=now, last=now)
