"""Bounds on work done at once (answers generated, searches run), each with a bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from retrieval.errors import Busy


class Slot:
    """A held generation slot; :meth:`release` is idempotent."""

    def __init__(self, limiter: GenerationLimiter) -> None:
        self._limiter = limiter
        self._released = False

    def release(self) -> None:
        """Give the slot back (safe to call more than once)."""
        if not self._released:
            self._released = True
            self._limiter._release()


class GenerationLimiter:
    """``slots`` tasks at once; up to ``queue`` more wait; beyond that, :class:`Busy`.

    Args:
        slots: answers generated concurrently (``settings.api.max_concurrent_generations``).
        queue: answers allowed to wait for a slot (``settings.api.max_queued_generations``).
        busy: the 503's message from the running and waiting counts (default: answers').
    """

    def __init__(
        self, slots: int, queue: int, busy: Callable[[int, int], str] | None = None
    ) -> None:
        if slots < 1:
            raise ValueError(f"Expected at least 1 generation slot, got {slots}")
        self.slots = slots
        self.queue = queue
        self._semaphore = asyncio.Semaphore(slots)
        self.active = 0
        self.waiting = 0
        self._busy = busy or self._answers_busy

    def _answers_busy(self, active: int, waiting: int) -> str:
        return (
            f"Docent is busy: {active} answers are being generated and "
            f"{waiting} are waiting (limits DOCENT_MAX_GENERATIONS={self.slots}, "
            f"DOCENT_MAX_QUEUED={self.queue}). Retry in a moment."
        )

    async def acquire(self) -> Slot:
        """Wait for a slot.

        Raises:
            Busy: every slot is taken and the queue is full.
        """
        if self._semaphore.locked() or self.waiting:
            if self.waiting >= self.queue:
                raise Busy(self._busy(self.active, self.waiting))
            self.waiting += 1
            try:
                await self._semaphore.acquire()
            finally:
                self.waiting -= 1
        else:
            await self._semaphore.acquire()
        self.active += 1
        return Slot(self)

    def _release(self) -> None:
        self.active -= 1
        self._semaphore.release()


def search_limiter(slots: int, queue: int) -> GenerationLimiter:
    """The bound on ``/v1/search`` requests run at once (``DOCENT_MAX_SEARCHES``)."""

    def busy(active: int, waiting: int) -> str:
        return (
            f"Docent is busy: {active} searches are running and {waiting} are waiting "
            f"(limits DOCENT_MAX_SEARCHES={slots}, DOCENT_MAX_QUEUED_SEARCHES={queue}). "
            "Retry in a moment."
        )

    return GenerationLimiter(slots, queue, busy)
