"""A model request run as a background task: queue, load, work in a thread, stream events."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from standin.errors import OllamaError
from standin.hosts import ModelHost
from standin.scheduler import Scheduler

Emit = Callable[[str], None]
Work = Callable[[Emit, threading.Event], Any]

_RUNNING: set[asyncio.Task[None]] = set()


@dataclass
class Event:
    """One step of a job: ``ready``, ``token``, ``done`` or ``error``."""

    kind: str
    payload: Any = None


class Job:
    """Runs ``work`` on a model once it is this request's turn.

    The job outlives its request: when the client goes away the request sets ``cancel`` and
    the job stops sampling, then releases the model. Only one thread uses a model at a time.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        host: ModelHost,
        work: Work | None,
        *,
        n_ctx: int,
        keep_alive: float | None,
    ) -> None:
        self.scheduler = scheduler
        self.host = host
        self.work = work
        self.n_ctx = n_ctx
        self.keep_alive = keep_alive
        self.cancel = threading.Event()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.started = time.perf_counter()
        self.load_ns = 0

    def start(self) -> None:
        """Schedule the job on the running loop."""
        task = asyncio.get_running_loop().create_task(self._run())
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)

    def elapsed_ns(self) -> int:
        """Nanoseconds since the request arrived."""
        return int((time.perf_counter() - self.started) * 1e9)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()

        def emit(text: str) -> None:
            loop.call_soon_threadsafe(self.events.put_nowait, Event("token", text))

        self.host.busy += 1
        try:
            async with self.scheduler.slot(self.host.spec.name):
                if self.cancel.is_set():
                    return
                try:
                    await asyncio.to_thread(self.host.load, self.n_ctx)
                    self.load_ns = self.elapsed_ns()
                    self.events.put_nowait(Event("ready"))
                    result = None
                    if self.work is not None:
                        result = await asyncio.to_thread(self.work, emit, self.cancel)
                    self.events.put_nowait(Event("done", result))
                finally:
                    if self.keep_alive == 0:
                        self.host.unload()
                    elif self.host.loaded:
                        self.host.touch(self.keep_alive)
        except OllamaError as error:
            self.events.put_nowait(Event("error", error))
        except Exception as error:  # a model failure is answered, never raised into the loop
            self.events.put_nowait(Event("error", OllamaError(500, str(error))))
        finally:
            self.host.busy -= 1

    async def next_event(self) -> Event:
        """The next event of the job."""
        return await self.events.get()

    async def wait_ready(self, request: Request) -> None:
        """Wait until the model is loaded for this request (or the client leaves).

        Raises:
            OllamaError: when the job failed before starting.
        """
        event = await self.watch(request, self.next_event())
        if event.kind == "error":
            raise event.payload
        if event.kind != "ready":
            raise OllamaError(500, "unexpected response")

    async def watch(self, request: Request, waiter: Any) -> Event:
        """Await ``waiter``; if the client disconnects first, cancel the job."""
        disconnect = asyncio.ensure_future(_wait_disconnect(request))
        task = asyncio.ensure_future(waiter)
        try:
            done, _ = await asyncio.wait({task, disconnect}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                result: Event = task.result()
                return result
            self.cancel.set()
            task.cancel()
            raise OllamaError(499, "request canceled")
        finally:
            disconnect.cancel()
            await asyncio.gather(disconnect, return_exceptions=True)

    async def collect(self, request: Request) -> tuple[str, Any]:
        """Wait for the whole result (non-streamed requests); return (text, result)."""
        pieces: list[str] = []
        while True:
            event = await self.watch(request, self.next_event())
            if event.kind == "token":
                pieces.append(event.payload)
            elif event.kind == "done":
                return "".join(pieces), event.payload
            elif event.kind == "error":
                raise event.payload


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
