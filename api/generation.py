"""One answer being generated for one request.

A generation slot, the prepared answer, its event stream, and the cleanup every door
needs (close the stream, free the slot).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from api.limiter import GenerationLimiter, Slot
from api.metrics import Metrics
from api.streaming import EventStreamResponse
from retrieval.answer import Answerer, AskRequest, PreparedAnswer
from retrieval.events import AnswerEvent, DoneEvent, ErrorEvent, SourceRef
from retrieval.stream import CollectedAnswer, collect

logger = logging.getLogger(__name__)


async def _aclose(stream: object) -> None:
    aclose: Callable[[], Awaitable[None]] | None = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


class Generation:
    """A prepared answer that holds a generation slot until :meth:`close`.

    Args:
        prepared: the answer, retrieved and budgeted (see ``Answerer.prepare``).
        slot: the limiter slot it holds.
        metrics: where finished answers and their tokens are counted.
    """

    def __init__(self, prepared: PreparedAnswer, slot: Slot, metrics: Metrics) -> None:
        self.prepared = prepared
        self._slot = slot
        self._metrics = metrics
        self._source = prepared.events()
        self._streams: list[object] = [self._source]
        self._closed = False

    @property
    def sources(self) -> list[SourceRef]:
        return self.prepared.sources

    def events(self) -> AsyncGenerator[AnswerEvent, None]:
        """The answer's events, counted in the metrics as they pass (closed by :meth:`close`)."""
        stream = self._tracked()
        self._streams.append(stream)
        return stream

    async def _tracked(self) -> AsyncGenerator[AnswerEvent, None]:
        async with aclosing(self._source) as source:  # closing this closes the model's stream
            async for event in source:
                if isinstance(event, DoneEvent):
                    self._metrics.observe_answer(event)
                elif isinstance(event, ErrorEvent):
                    self._metrics.observe_error(event.code)
                yield event

    async def collect(self) -> CollectedAnswer:
        """Consume the whole stream (the non-streamed answer), then close.

        Raises:
            AnswerFailed: an ``error`` event arrived (status and code of its error).
        """
        try:
            return await collect(self.events(), sources=self.sources)
        finally:
            await self.close()

    def response(self, body: AsyncIterator[bytes], media_type: str) -> EventStreamResponse:
        """A streaming response of ``body`` (an encoding of :meth:`events`) that closes this."""
        self._streams.append(body)
        return EventStreamResponse(body, media_type=media_type, on_close=self.close)

    async def close(self) -> None:
        """Close every stream, outermost first (so the upstream stops), and free the slot.

        Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for stream in reversed(self._streams):
                try:
                    await _aclose(stream)
                except Exception:
                    logger.exception("closing an answer stream failed")
        finally:
            self._slot.release()


async def start_generation(
    limiter: GenerationLimiter, answerer: Answerer, metrics: Metrics, request: AskRequest
) -> Generation:
    """Take a slot (or raise ``Busy``), then retrieve and budget the answer.

    Retrieval happens here, before any response starts, so its errors become real HTTP
    statuses. On failure the slot is freed.
    """
    slot = await limiter.acquire()
    try:
        prepared = await answerer.prepare(request)
    except BaseException:
        slot.release()
        raise
    return Generation(prepared, slot, metrics)
