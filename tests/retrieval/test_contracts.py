"""Contract tests: the fakes and the real Ollama adapters pass the very same cases.

Each Protocol of ``retrieval.types`` has one base class of checks. The fake (used by the
fast unit tests) and the real adapter (against the stand-in, or ``OLLAMA_HOST``) each
subclass it and only say how to build the implementation, so a fake that drifts from
what Ollama does fails here.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

import pytest

from retrieval.chat import OllamaChat
from retrieval.embedder import OllamaEmbedder
from retrieval.settings import OllamaSettings
from retrieval.types import ChatDelta, ChatDone, ChatMessage, ChatModel, ChatOptions, Embedder
from tests.fakes import FakeEmbedder, ScriptedChat

LONG_ANSWER = " ".join(f"word{i}" for i in range(40))
QUESTION = [
    ChatMessage(role="system", content="You answer briefly."),
    ChatMessage(role="user", content="Count from one to twenty, in words."),
]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


class EmbedderContract:
    """What every :class:`retrieval.types.Embedder` does."""

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError

    async def test_one_unit_vector_per_text_in_order(self, embedder: Embedder) -> None:
        texts = ["The kettle boils water.", "Returns need a receipt.", "Support opens at 8."]
        vectors = await embedder.embed_documents(texts)
        assert len(vectors) == len(texts)
        assert len({len(v) for v in vectors}) == 1
        assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-3 for v in vectors)
        for text, vector in zip(texts, vectors, strict=True):
            alone = await embedder.embed_query(text)
            assert cosine(alone, vector) > 0.999

    async def test_no_texts_no_vectors(self, embedder: Embedder) -> None:
        assert await embedder.embed_documents([]) == []

    async def test_related_texts_are_closer_than_unrelated(self, embedder: Embedder) -> None:
        query = await embedder.embed_query("the cat sat on the mat")
        related, unrelated = await embedder.embed_documents(
            ["a cat sat on a mat", "quarterly tax filing deadlines"]
        )
        assert cosine(query, related) > cosine(query, unrelated)

    async def test_info_names_the_model_and_its_dimension(self, embedder: Embedder) -> None:
        info = await embedder.info()
        assert info.name == embedder.model
        assert info.embedding_length == len(await embedder.embed_query("dimension"))
        assert info.context_length is None or info.context_length > 0


class ChatContract:
    """What every :class:`retrieval.types.ChatModel` does."""

    @pytest.fixture
    def chat(self) -> ChatModel:
        raise NotImplementedError

    async def _items(self, chat: ChatModel, options: ChatOptions) -> list[ChatDelta | ChatDone]:
        async with aclosing(chat.stream(QUESTION, options)) as stream:
            return [item async for item in stream]

    async def test_deltas_then_exactly_one_done_last(self, chat: ChatModel) -> None:
        items = await self._items(chat, ChatOptions(num_ctx=1024, num_predict=24, temperature=0))
        assert isinstance(items[-1], ChatDone)
        assert all(isinstance(item, ChatDelta) for item in items[:-1])
        assert "".join(item.text for item in items[:-1] if isinstance(item, ChatDelta)).strip()

    async def test_done_counts_tokens(self, chat: ChatModel) -> None:
        done = (await self._items(chat, ChatOptions(num_ctx=1024, num_predict=8)))[-1]
        assert isinstance(done, ChatDone)
        assert done.prompt_eval_count is not None
        assert done.prompt_eval_count > 0
        assert done.eval_count is not None
        assert 0 < done.eval_count <= 8

    async def test_num_predict_bounds_the_answer(self, chat: ChatModel) -> None:
        done = (await self._items(chat, ChatOptions(num_ctx=1024, num_predict=4)))[-1]
        assert isinstance(done, ChatDone)
        assert done.eval_count is not None
        assert done.eval_count <= 4
        assert done.done_reason == "length"

    async def test_closing_early_then_streaming_again(self, chat: ChatModel) -> None:
        stream = chat.stream(QUESTION, ChatOptions(num_ctx=1024, num_predict=24))
        first = await anext(stream)
        await stream.aclose()
        assert isinstance(first, ChatDelta)
        items = await self._items(chat, ChatOptions(num_ctx=1024, num_predict=4))
        assert isinstance(items[-1], ChatDone)

    async def test_info_names_the_model_and_its_context(self, chat: ChatModel) -> None:
        info = await chat.info()
        assert info.name == chat.model
        assert info.context_length is not None
        assert info.context_length > 0


class TestFakeEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self) -> Embedder:
        return FakeEmbedder()


class TestScriptedChat(ChatContract):
    @pytest.fixture
    def chat(self) -> ChatModel:
        chat = ScriptedChat()
        for _ in range(3):
            chat.enqueue(LONG_ANSWER)
        return chat


class TestOllamaEmbedder(EmbedderContract):
    @pytest.fixture
    async def embedder(self, ollama_host: str, embed_model: str) -> AsyncIterator[Embedder]:
        real = OllamaEmbedder(OllamaSettings(host=ollama_host, embed_model=embed_model))
        yield real
        await real.aclose()


@pytest.mark.slow
class TestOllamaChat(ChatContract):
    @pytest.fixture
    async def chat(self, ollama_host: str, chat_model: str) -> AsyncIterator[ChatModel]:
        real = OllamaChat(OllamaSettings(host=ollama_host, chat_model=chat_model))
        yield real
        await real.aclose()
