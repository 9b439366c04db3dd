"""How late the event loop runs: a task that sleeps a short interval and records its delay.

Anything that holds the loop (synchronous work in a route, a big JSON encode, a store call
made on the loop thread, another thread holding the GIL) delays every request at once; it
shows up here as lag. ``docent serve`` runs one monitor for its whole life and exposes
it on ``/metrics`` (see :class:`api.metrics.Metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

DEFAULT_INTERVAL_S = 0.01
"""How long the monitor sleeps between two measurements."""


class LoopLagMonitor:
    """Records, every ``interval`` seconds, how much later than asked the loop woke it.

    Args:
        interval: seconds slept between measurements (> 0).
        observe: called with each lag in seconds (e.g. a Prometheus histogram's ``observe``).

    Attributes:
        max_lag: the longest lag seen since start, in seconds.
        last_lag: the latest lag, in seconds.
        samples: measurements made.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL_S,
        observe: Callable[[float], None] = lambda _lag: None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"Expected a positive lag-monitor interval, got {interval}")
        self.interval = interval
        self.max_lag = 0.0
        self.last_lag = 0.0
        self.samples = 0
        self._observe = observe
        self._task: asyncio.Task[None] | None = None

    def record(self, lag: float) -> None:
        """Count one measured lag (negative values, clock noise, count as 0)."""
        lag = max(0.0, lag)
        self.last_lag = lag
        self.max_lag = max(self.max_lag, lag)
        self.samples += 1
        self._observe(lag)

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.record(time.perf_counter() - asked - self.interval)

    def start(self) -> None:
        """Start measuring on the running loop (once; later calls do nothing)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop measuring (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
