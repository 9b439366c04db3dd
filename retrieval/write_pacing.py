"""How many rows one Chroma write call carries: many for throughput, few while serving.

Embedded Chroma holds the GIL for the whole of each call, so while it writes, no other
thread of the process runs: a 512-chunk call stalls every search of ``docent serve`` for
0.3-0.5 s. Between calls the other threads get their turn. So the length of one call is
what a writer costs everyone else, and what to bound when the process serves requests:

- **bulk** (``docent ingest``): a fixed, large size (fewer calls, each with a fixed
  cost, is faster; nobody else waits on this process);
- **interactive** (uploads and jobs in ``docent serve``): the size is learnt from the
  measured seconds per row of recent calls, so that one call lasts about
  ``target_seconds``, within ``[smallest, largest]``; and before each call the writer
  steps aside for ``pause_seconds``. Without the pause, the writing thread took the GIL
  back between two calls before the threads waiting for it ran: while 400 documents were
  uploaded, Chroma's write calls held it in 86% of a profile's GIL samples, and a search
  waited for call after call.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

BULK_ROWS = 512
"""Rows per call of a bulk write (one full ingestion wave)."""
INTERACTIVE_TARGET_SECONDS = 0.05
"""How long one call of an interactive writer may hold the store (and the GIL)."""
INTERACTIVE_FIRST_ROWS = 16
"""Rows of an interactive writer's first call, before anything was measured."""
INTERACTIVE_PAUSE_SECONDS = 0.005
"""How long an interactive writer gives the GIL away before each call (searches run)."""
SMOOTHING = 0.3
"""Weight of the newest call in the moving average of seconds per row."""


@dataclass
class WritePacing:
    """Rows per Chroma write call; thread-safe (concurrent uploads share one).

    Args:
        largest: the most rows in one call.
        target_seconds: how long one call should last; None: always ``largest``.
        smallest: the fewest rows in one call (a call has a fixed cost).
        first: rows of the first call, before any call was measured.
        pause_seconds: how long the writer sleeps before each call, so that threads
            waiting for the GIL run between two calls (0: no pause).
    """

    largest: int = BULK_ROWS
    target_seconds: float | None = None
    smallest: int = 4
    first: int = INTERACTIVE_FIRST_ROWS
    pause_seconds: float = 0.0
    seconds_per_row: float | None = None
    """Moving average over recent calls; None until one was measured."""
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.smallest <= self.largest:
            raise ValueError(
                f"Expected 1 <= smallest <= largest, got {self.smallest} and {self.largest}."
            )
        if self.target_seconds is not None and self.target_seconds <= 0:
            raise ValueError(f"Expected a positive target_seconds, got {self.target_seconds}.")
        if not self.pause_seconds >= 0:
            raise ValueError(f"Expected pause_seconds >= 0, got {self.pause_seconds}.")

    @classmethod
    def bulk(cls, rows: int = BULK_ROWS) -> WritePacing:
        """Always ``rows`` per call: throughput first (``docent ingest``)."""
        return cls(largest=rows, smallest=min(rows, 4))

    @classmethod
    def interactive(
        cls, largest: int, target_seconds: float = INTERACTIVE_TARGET_SECONDS
    ) -> WritePacing:
        """Calls of about ``target_seconds``, at most ``largest`` rows, paused (serving)."""
        return cls(
            largest=largest,
            target_seconds=target_seconds,
            smallest=min(4, largest),
            first=min(INTERACTIVE_FIRST_ROWS, largest),
            pause_seconds=INTERACTIVE_PAUSE_SECONDS,
        )

    def rows(self) -> int:
        """Rows for the next call (the store asks right before each call).

        An interactive writer first sleeps ``pause_seconds``: embedded Chroma keeps the GIL
        for a whole call, so this is when the other threads of the process get it.
        """
        if self.pause_seconds > 0:
            time.sleep(self.pause_seconds)
        if self.target_seconds is None:
            return self.largest
        with self._guard:
            per_row = self.seconds_per_row
        if per_row is None:
            return max(self.smallest, self.first)
        fitting = math.floor(self.target_seconds / per_row) if per_row > 0 else self.largest
        return min(self.largest, max(self.smallest, fitting))

    def observed(self, rows: int, seconds: float) -> None:
        """A call of ``rows`` rows took ``seconds``: update the moving average."""
        if rows <= 0 or seconds < 0:
            return
        per_row = seconds / rows
        with self._guard:
            if self.seconds_per_row is None:
                self.seconds_per_row = per_row
            else:
                self.seconds_per_row += SMOOTHING * (per_row - self.seconds_per_row)
