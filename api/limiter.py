"""A bound on answers generated at once, with a bounded queue in front of it."""

from __future__ import annotations

import asyncio

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
    """``slots`` generations at once; up to ``queue`` more wait; beyond that, :class:`Busy`.

    Args:
        slots: answers generated concurrently (``settings.api.max_concurrent_generations``).
        queue: answers allowed to wait for a slot (``settings.api.max_queued_generations``).
    """

    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1:
            raise ValueError(f"Expected at least 1 generation slot, got {slots}")
        self.slots = slots
        self.queue = queue
        self._semaphore = asyncio.Semaphore(slots)
        self.active = 0
        self.waiting = 0

    async def acquire(self) -> Slot:
        """Wait for a slot.

        Raises:
            Busy: every slot is taken and the queue is full.
        """
        if self._semaphore.locked() or self.waiting:
            if self.waiting >= self.queue:
                raise Busy(
                    f"Docent is busy: {self.active} answers are being generated and "
                    f"{self.waiting} are waiting (limits DOCENT_MAX_GENERATIONS={self.slots}, "
                    f"DOCENT_MAX_QUEUED={self.queue}). Retry in a moment."
                )
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
