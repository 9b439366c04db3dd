"""One answer being generated for one request.

A generation slot, the prepared answer, its event stream, and the cleanup every door
needs (close the stream, free the slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import aclosing
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request

from api.limiter import GenerationLimiter, Slot
from api.metrics import Metrics
from api.streaming import EventStreamResponse
from retrieval.answer import Answerer, AskRequest, PreparedAnswer
from retrieval.events import AnswerEvent, DoneEvent, ErrorEvent, SourceRef
from retrieval.stream import CollectedAnswer, collect

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def until_disconnected(request: Request) -> None:
    """Return when the client of ``request`` has gone (its body already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(work: Coroutine[Any, Any, T], request: Request) -> T:
    """Run ``work``; cancel it as soon as the client goes away.

    Raises:
        ClientDisconnect: the client went away first (``work`` has been cancelled).
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if task.cancelled() or not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise ClientDisconnect()
    return task.result()


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

    async def collect(self, request: Request | None = None) -> CollectedAnswer:
        """Consume the whole stream (the non-streamed answer), then close.

        Args:
            request: the HTTP request waiting for the answer; when its client goes away
                the generation stops there and then (its slot is freed).

        Raises:
            AnswerFailed: an ``error`` event arrived (status and code of its error).
            ClientDisconnect: the client of ``request`` went away first.
        """
        try:
            work = collect(self.events(), sources=self.sources)
            if request is None:
                return await work
            return await unless_disconnected(work, request)
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
