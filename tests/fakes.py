"""Fakes shared by the unit tests (no network): a hash-based embedder, a scripted chat model.

Both pass the same contract tests as the real Ollama adapters (tests/test_contracts.py)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from retrieval.types import ChatDelta, ChatDone, ChatMessage, ChatOptions, ModelInfo

_WORD = re.compile(r"\w+")
PROMPT_EVAL_NS_PER_MESSAGE = 1_000_000
"""The prompt_eval_duration ScriptedChat reports: this many ns per message."""
EVAL_NS_PER_WORD = 2_000_000
"""The eval_duration ScriptedChat reports: this many ns per word answered."""


def hash_vector(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector for ``text``: a bag of hashed words (plus a text hash).

    Texts sharing words get a positive cosine similarity, so the fake is usable for
    retrieval tests; identical texts get identical vectors.
    """
    vector = [0.0] * dimension
    words = _WORD.findall(text.lower()) or [text]
    for word in words:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimension
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[slot] += sign
    whole = hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest()
    vector[int.from_bytes(whole, "little") % dimension] += 0.01
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class FakeEmbedder:
    """Implements :class:`retrieval.types.Embedder` with hash-based unit vectors.

    Attributes:
        calls: number of embed requests (one per batch of ``batch_size`` documents, one
            per query), like ``OllamaEmbedder.calls``.
        inputs: every text embedded, in order.
    """

    def __init__(
        self,
        *,
        model: str = "fake-embed",
        dimension: int = 32,
        context_length: int | None = 256,
        batch_size: int = 32,
    ) -> None:
        self._model = model
        self.dimension = dimension
        self.context_length = context_length
        self.batch_size = batch_size
        self.calls = 0
        self.inputs: list[str] = []

    @property
    def model(self) -> str:
        return self._model

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        texts = list(texts)
        if not texts:
            return []
        self.calls += math.ceil(len(texts) / self.batch_size)
        self.inputs.extend(texts)
        return [hash_vector(text, self.dimension) for text in texts]

    async def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        self.inputs.append(text)
        return hash_vector(text, self.dimension)

    async def info(self) -> ModelInfo:
        return ModelInfo(
            name=self._model,
            context_length=self.context_length,
            embedding_length=self.dimension,
            family="bert",
        )

    async def aclose(self) -> None:
        return None


@dataclass
class ChatCall:
    messages: list[ChatMessage]
    options: ChatOptions


class ScriptedChat:
    """Implements ``ChatModel``: answers with what was ``enqueue``d, word by word (a word is a
    token: ``num_predict`` cuts the answer, ``done_reason`` is then ``length``).

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
    ) -> AsyncGenerator[ChatDelta | ChatDone, None]:
        self.history.append(ChatCall(list(messages), options))
        answer = self._script.pop(0) if self._script else "OK."
        finished = False
        try:
            if isinstance(answer, Exception):
                yield ChatDelta(text="Partial ")
                raise answer
            words = answer.split(" ")
            cut = bool(options.num_predict) and len(words) > (options.num_predict or 0)
            if cut:  # one word per token, cut at num_predict as Ollama does
                words = words[: options.num_predict]
            for i, word in enumerate(words):
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield ChatDelta(text=word if i == len(words) - 1 else word + " ")
            prompt_chars = sum(len(m.content) for m in messages)
            yield ChatDone(
                done_reason="length" if cut else "stop",
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
