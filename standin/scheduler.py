"""One request at a time per model, a bounded wait queue, and fault injection."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from standin.errors import MAX_QUEUE_MESSAGE, OllamaError

INJECTED_FAULT_MESSAGE = "llama runner process has terminated: exit status 2"


@dataclass(frozen=True)
class Faults:
    """Fault injection settings (all off by default)."""

    latency_ms: int = 0
    error_rate: float = 0.0
    seed: int = 0


class Scheduler:
    """Admits model requests, queues them per model, and injects faults when asked.

    Like Ollama with ``OLLAMA_NUM_PARALLEL=1``: each model serves one request at a time and
    the others wait; beyond ``max_queue`` waiting requests new ones get a 503.
    """

    def __init__(self, *, max_queue: int = 512, faults: Faults | None = None) -> None:
        self.max_queue = max_queue
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._waiting = 0
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def waiting(self) -> int:
        """Requests admitted but not yet running."""
        return self._waiting

    def lock(self, model: str) -> asyncio.Lock:
        """The lock that serialises requests to one model."""
        return self._locks.setdefault(model, asyncio.Lock())

    def admit(self) -> None:
        """Accept a model request now, or raise Ollama's 503 / an injected 500.

        Raises:
            OllamaError: 503 when the queue is full, 500 for an injected fault.
        """
        if self._waiting >= self.max_queue:
            raise OllamaError(503, MAX_QUEUE_MESSAGE)
        if self.faults.error_rate > 0 and self._rng.random() < self.faults.error_rate:
            raise OllamaError(500, INJECTED_FAULT_MESSAGE)

    @asynccontextmanager
    async def slot(self, model: str) -> AsyncIterator[None]:
        """Wait for the model (counted as queued), then hold it; apply injected latency."""
        lock = self.lock(model)
        self._waiting += 1
        try:
            await lock.acquire()
        finally:
            self._waiting -= 1
        try:
            if self.faults.latency_ms > 0:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            yield
        finally:
            lock.release()
