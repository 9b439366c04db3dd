"""Wire formats of an answer stream, and the response that carries them.

Every door turns the same :data:`retrieval.events.AnswerEvent` stream into its own format:
native NDJSON or SSE, Ollama's NDJSON (``/api/chat``, ``/api/generate``), OpenAI's SSE chunks.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from retrieval.events import (
    AnswerEvent,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    SourceRef,
    SourcesEvent,
)

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

OllamaKind = Literal["chat", "generate"]


class EventStreamResponse(StreamingResponse):
    """A streamed answer that always cleans up.

    It watches for the client going away while it streams (cancelling the stream, and so
    the upstream Ollama generation), and whatever happens (end, error, disconnect,
    cancellation) it awaits ``on_close`` once: close the event generators, free the slot.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        media_type: str,
        on_close: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=STREAM_HEADERS)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    await self.stream_response(send)
                    group.cancel_scope.cancel()

                async def watch() -> None:
                    await self.listen_for_disconnect(receive)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                group.start_soon(watch)
        finally:
            with anyio.CancelScope(shield=True):
                await self._on_close()


def _json_line(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# --- native ----------------------------------------------------------------------------


async def ndjson_stream(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[bytes]:
    """One JSON event per line."""
    async for event in events:
        yield event.model_dump_json().encode() + b"\n"


async def sse_stream(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[bytes]:
    """The same events as Server-Sent Events (``event:`` = the event type)."""
    async for event in events:
        yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n".encode()


# --- footer ----------------------------------------------------------------------------


def sources_footer(sources: Sequence[SourceRef]) -> str:
    """The "Sources:" footer the facades append: one ``[n] source p.N`` line a source."""
    if not sources:
        return ""
    lines = [
        f"[{ref.n}] {ref.source}"
        + (f" p.{ref.page}" if ref.page else "")
        + (" (OCR)" if ref.ocr else "")
        for ref in sources
    ]
    return "\n\nSources:\n" + "\n".join(lines)


NONE_CITED_FOOTER = "\n\nSources: none cited."
"""The footer of an answer that cites none of its numbered documents."""


def footer_for(done: DoneEvent, sources: Sequence[SourceRef], enabled: bool) -> str:
    """The footer after ``done``'s answer: the sources it cites, or "none cited".

    '' when disabled or when nothing was found (the answer then says so itself).
    """
    if not enabled or not done.found:
        return ""
    cited = {citation.n for citation in done.citations}
    used = [ref for ref in sources if ref.n in cited]
    return sources_footer(used) if used else NONE_CITED_FOOTER


# --- Ollama ----------------------------------------------------------------------------


def now_iso() -> str:
    """The current time, as Ollama writes ``created_at``."""
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def ollama_part(model: str, kind: OllamaKind, text: str) -> dict[str, Any]:
    """One streamed Ollama object carrying ``text``."""
    part: dict[str, Any] = {"model": model, "created_at": now_iso()}
    if kind == "chat":
        part["message"] = {"role": "assistant", "content": text}
    else:
        part["response"] = text
    part["done"] = False
    return part


def ollama_final(model: str, kind: OllamaKind, done: DoneEvent, text: str = "") -> dict[str, Any]:
    """The closing Ollama object (``done: true``) with Ollama's counters."""
    final = ollama_part(model, kind, text)
    usage, timings = done.usage, done.timings
    final.update(
        done=True,
        done_reason=done.done_reason or "stop",
        total_duration=int(timings.total_ms * 1e6) if timings else 0,
        load_duration=0,
        prompt_eval_count=(usage.prompt_tokens or 0) if usage else 0,
        prompt_eval_duration=(timings.prompt_eval_ns or 0) if timings else 0,
        eval_count=(usage.completion_tokens or 0) if usage else 0,
        eval_duration=(timings.eval_ns or 0) if timings else 0,
    )
    return final


async def ollama_stream(
    events: AsyncIterator[AnswerEvent], *, model: str, kind: OllamaKind, footer: bool
) -> AsyncIterator[bytes]:
    """Ollama's NDJSON: text parts, the footer, a ``done`` object; ``{"error"}`` on failure."""
    sources: list[SourceRef] = []
    async for event in events:
        if isinstance(event, SourcesEvent):
            sources = event.sources
        elif isinstance(event, DeltaEvent):
            if event.text:
                yield _json_line(ollama_part(model, kind, event.text))
        elif isinstance(event, DoneEvent):
            tail = footer_for(event, sources, footer)
            if tail:
                yield _json_line(ollama_part(model, kind, tail))
            yield _json_line(ollama_final(model, kind, event))
        elif isinstance(event, ErrorEvent):
            yield _json_line({"error": event.message})
            return


# --- OpenAI ----------------------------------------------------------------------------


def openai_finish_reason(done: DoneEvent) -> str:
    """OpenAI's ``finish_reason`` for Ollama's ``done_reason``."""
    return "length" if done.done_reason == "length" else "stop"


def openai_usage(done: DoneEvent) -> dict[str, int]:
    """OpenAI's ``usage`` object."""
    prompt = (done.usage.prompt_tokens or 0) if done.usage else 0
    completion = (done.usage.completion_tokens or 0) if done.usage else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _openai_chunk(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, str],
    finish_reason: str | None,
    include_usage: bool,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if include_usage:
        chunk["usage"] = None
    return chunk


def _sse_data(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def openai_stream(
    events: AsyncIterator[AnswerEvent],
    *,
    completion_id: str,
    model: str,
    include_usage: bool,
    footer: bool,
) -> AsyncIterator[bytes]:
    """OpenAI chat completion chunks as SSE, ending in ``data: [DONE]``.

    A failure after streaming began is one ``data: {"error": {...}}`` frame (which the
    ``openai`` SDK raises as an ``APIError``), then the stream ends.
    """
    created = int(time.time())
    sources: list[SourceRef] = []
    yield _sse_data(
        _openai_chunk(
            completion_id, model, created, {"role": "assistant", "content": ""}, None, include_usage
        )
    )
    async for event in events:
        if isinstance(event, SourcesEvent):
            sources = event.sources
        elif isinstance(event, DeltaEvent):
            if event.text:
                delta = {"content": event.text}
                yield _sse_data(
                    _openai_chunk(completion_id, model, created, delta, None, include_usage)
                )
        elif isinstance(event, DoneEvent):
            tail = footer_for(event, sources, footer)
            if tail:
                yield _sse_data(
                    _openai_chunk(
                        completion_id, model, created, {"content": tail}, None, include_usage
                    )
                )
            reason = openai_finish_reason(event)
            yield _sse_data(_openai_chunk(completion_id, model, created, {}, reason, include_usage))
            if include_usage:
                yield _sse_data(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": openai_usage(event),
                    }
                )
            yield b"data: [DONE]\n\n"
        elif isinstance(event, ErrorEvent):
            error = {"message": event.message, "type": "server_error", "param": None}
            yield _sse_data({"error": {**error, "code": event.code}})
            return
