"""The Ollama chat model adapter: streams ``/api/chat`` as ChatDelta... then ChatDone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from retrieval.ollama_client import make_async_client, model_info_from_show, ollama_errors
from retrieval.settings import OllamaSettings
from retrieval.types import ChatDelta, ChatDone, ChatMessage, ChatOptions, ModelInfo


def options_payload(options: ChatOptions) -> dict[str, Any]:
    """Ollama's ``options`` for ``options``: only the values that are set."""
    payload: dict[str, Any] = {
        "num_ctx": options.num_ctx,
        "num_predict": options.num_predict,
        "temperature": options.temperature,
        "top_p": options.top_p,
        "seed": options.seed,
    }
    if options.stop:
        payload["stop"] = list(options.stop)
    return {key: value for key, value in payload.items() if value is not None}


END_OF_STREAM_SECONDS = 0.05
"""How long the stream is read on after its ``done`` line, for the body's end (Ollama sends
it at once). A body read to its end leaves the HTTP connection to the next request;
closed before, every answer opened a new connection (212 of 230 answers in a count against
the stand-in)."""


async def _read_to_end(upstream: Any) -> None:
    """Read what follows ``done`` (nothing, from Ollama), for at most a moment."""
    with contextlib.suppress(Exception):  # too slow, or broken: the connection is dropped
        async with asyncio.timeout(END_OF_STREAM_SECONDS):
            async for _part in upstream:
                pass


def _done_from(part: Any) -> ChatDone:
    return ChatDone(
        done_reason=getattr(part, "done_reason", None),
        prompt_eval_count=getattr(part, "prompt_eval_count", None),
        eval_count=getattr(part, "eval_count", None),
        total_duration=getattr(part, "total_duration", None),
        prompt_eval_duration=getattr(part, "prompt_eval_duration", None),
        eval_duration=getattr(part, "eval_duration", None),
    )


class OllamaChat:
    """Implements :class:`retrieval.types.ChatModel` over ``ollama.AsyncClient.chat``.

    Every request sends ``keep_alive`` (so the chat model stays loaded between
    questions) and the options it is given; callers always set ``num_ctx``.

    Attributes:
        calls: number of ``/api/chat`` requests made.
    """

    def __init__(self, settings: OllamaSettings, *, model: str | None = None) -> None:
        self._settings = settings
        self._model = model or settings.chat_model
        self._url = settings.base_url
        self._client = make_async_client(self._url, settings.timeout_seconds)
        self._info: ModelInfo | None = None
        self._info_lock = asyncio.Lock()
        self.calls = 0

    @property
    def model(self) -> str:
        return self._model

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions
    ) -> AsyncGenerator[ChatDelta | ChatDone, None]:
        """Stream the answer to ``messages``: deltas, then one :class:`ChatDone`.

        Closing this generator early (``aclose``, or cancelling the task) closes the HTTP
        stream, so Ollama stops generating.

        Raises:
            OllamaUnavailable, OllamaModelMissing, OllamaFailed: translated client errors.
        """
        self.calls += 1
        payload: list[Mapping[str, Any]] = [
            {"role": message.role, "content": message.content} for message in messages
        ]
        with ollama_errors(self._url, self._model):
            upstream = await self._client.chat(
                model=self._model,
                messages=payload,
                stream=True,
                options=options_payload(options),
                keep_alive=self._settings.keep_alive,
            )
        try:
            with ollama_errors(self._url, self._model):
                async for part in upstream:
                    text = (part.message.content or "") if part.message else ""
                    if text:
                        yield ChatDelta(text=text)
                    if part.done:
                        await _read_to_end(upstream)
                        yield _done_from(part)
                        return
            yield ChatDone(done_reason=None, prompt_eval_count=None, eval_count=None)
        finally:
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def info(self) -> ModelInfo:
        """The model's ``/api/show`` facts (cached after the first call).

        Raises:
            OllamaModelMissing: the model is not pulled.
        """
        async with self._info_lock:
            if self._info is None:
                with ollama_errors(self._url, self._model):
                    show = await self._client.show(self._model)
                self._info = model_info_from_show(self._model, show)
            return self._info

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()  # type: ignore[no-untyped-call]
