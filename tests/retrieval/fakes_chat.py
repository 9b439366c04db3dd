"""A scripted chat model for unit tests (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from retrieval.types import ChatDelta, ChatDone, ChatMessage, ChatOptions, ModelInfo

PROMPT_EVAL_NS_PER_MESSAGE = 1_000_000
"""The prompt_eval_duration ScriptedChat reports: this many ns per message."""
EVAL_NS_PER_WORD = 2_000_000
"""The eval_duration ScriptedChat reports: this many ns per word answered."""


@dataclass
class ChatCall:
    messages: list[ChatMessage]
    options: ChatOptions


class ScriptedChat:
    """Implements ``ChatModel``: answers with what was ``enqueue``d, word by word.

    Attributes:
        history: every call (messages and options), in order.
        closed: how many streams were closed before their end.
        prompt_eval_count: reported in ChatDone (None = estimate from characters / 4).
    """

    def __init__(
        self,
        *,
        model: str = "scripted",
        context_length: int | None = 2048,
        delay: float = 0.0,
    ) -> None:
        self._model = model
        self.context_length = context_length
        self.delay = delay
        self.history: list[ChatCall] = []
        self.closed = 0
        self.prompt_eval_count: int | None = None
        self._script: list[str | Exception] = []

    @property
    def model(self) -> str:
        return self._model

    @property
    def calls(self) -> int:
        return len(self.history)

    def enqueue(self, answer: str | Exception) -> None:
        """The next answer (or an error raised after the first delta)."""
        self._script.append(answer)

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions
    ) -> AsyncIterator[ChatDelta | ChatDone]:
        self.history.append(ChatCall(list(messages), options))
        answer = self._script.pop(0) if self._script else "OK."
        finished = False
        try:
            if isinstance(answer, Exception):
                yield ChatDelta(text="Partial ")
                raise answer
            words = answer.split(" ")
            for i, word in enumerate(words):
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield ChatDelta(text=word if i == len(words) - 1 else word + " ")
            prompt_chars = sum(len(m.content) for m in messages)
            yield ChatDone(
                done_reason="stop",
                prompt_eval_count=self.prompt_eval_count or prompt_chars // 4,
                eval_count=len(words),
                prompt_eval_duration=PROMPT_EVAL_NS_PER_MESSAGE * len(messages),
                eval_duration=EVAL_NS_PER_WORD * len(words),
            )
            finished = True
        finally:
            if not finished:
                self.closed += 1

    async def info(self) -> ModelInfo:
        return ModelInfo(
            name=self._model, context_length=self.context_length, embedding_length=None
        )
