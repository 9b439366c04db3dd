"""LangChain adapters over Docent's search and answer core.

- :class:`DocentRetriever` is a ``BaseRetriever``: ``invoke(query)`` / ``ainvoke`` return
  ``Document``s whose metadata carries the chunk id, source, page and score.
- :class:`DocentAnswerRunnable` is a ``Runnable[str | AskRequest, str]`` over the one
  streaming core: ``invoke`` / ``ainvoke`` return the answer text, ``stream`` / ``astream``
  yield its text deltas (they add up to the ``invoke`` result). ``aevents`` gives the full
  typed events (sources, deltas, done) for callers that want citations.

Sync methods run the async core on one private event loop thread per adapter, so the
Ollama client's connections stay on one loop. In a notebook (a running loop), prefer the
``a*`` methods; do not mix sync and async calls on the same Searcher/Answerer objects.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterator, Mapping
from contextlib import aclosing
from typing import Any, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict, PrivateAttr

from retrieval.answer import Answerer, AskRequest
from retrieval.errors import InvalidRequest
from retrieval.events import AnswerEvent, DoneEvent
from retrieval.search import Searcher, SearchRequest
from retrieval.settings import RetrievalMode
from retrieval.stream import deltas
from retrieval.types import Hit

T = TypeVar("T")
AnswerInput = str | AskRequest


class _LoopThread:
    """An event loop in a daemon thread, for running async code from sync callers."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="docent-langchain", daemon=True
                ).start()
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result()

    def iterate(self, iterator: AsyncGenerator[T, None]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(_next(iterator))
                except StopAsyncIteration:
                    return
        finally:
            self.run(iterator.aclose())


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


def hit_to_document(hit: Hit) -> Document:
    """A LangChain ``Document`` for a hit (metadata: chunk metadata + id and score)."""
    return Document(
        page_content=hit.text,
        id=hit.id,
        metadata={**hit.metadata, "id": hit.id, "score": hit.score},
    )


class DocentRetriever(BaseRetriever):
    """Docent search as a LangChain retriever.

    Attributes:
        searcher: the Docent searcher.
        collection: collection to search.
        k: hits per query (None: settings).
        mode: dense, lexical or hybrid (None: settings).
        filters: metadata filters, as in :class:`retrieval.search.SearchRequest`.
        mmr: diversify the hits.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: Searcher
    collection: str = "default"
    k: int | None = None
    mode: RetrievalMode | None = None
    filters: Mapping[str, Any] | None = None
    mmr: bool = False
    _runner: _LoopThread = PrivateAttr(default_factory=_LoopThread)

    def _request(self, query: str) -> SearchRequest:
        return SearchRequest(
            query=query,
            collection=self.collection,
            k=self.k,
            mode=self.mode,
            filters=self.filters,
            mmr=self.mmr,
        )

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = await self.searcher.search(self._request(query))
        return [hit_to_document(hit) for hit in hits]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self._runner.run(self.searcher.search(self._request(query)))
        return [hit_to_document(hit) for hit in hits]


class DocentAnswerRunnable(Runnable[AnswerInput, str]):
    """Grounded answers as a LangChain Runnable (input: a question or an AskRequest).

    Args:
        answerer: the Docent answerer.
        collection: collection for plain-string questions.
        k: chunks for plain-string questions (None: settings).
        mode: retrieval mode for plain-string questions (None: settings).
    """

    def __init__(
        self,
        answerer: Answerer,
        *,
        collection: str = "default",
        k: int | None = None,
        mode: RetrievalMode | None = None,
    ) -> None:
        self.answerer = answerer
        self.collection = collection
        self.k = k
        self.mode = mode
        self._runner = _LoopThread()

    def _request(self, value: AnswerInput) -> AskRequest:
        if isinstance(value, AskRequest):
            return value
        if isinstance(value, str):
            return AskRequest(question=value, collection=self.collection, k=self.k, mode=self.mode)
        raise InvalidRequest(
            f"Expected a question string or an AskRequest, got {type(value).__name__}."
        )

    async def aevents(self, value: AnswerInput) -> AsyncGenerator[AnswerEvent, None]:
        """The typed events of the answer (sources, deltas, done or error)."""
        prepared = await self.answerer.prepare(self._request(value))
        async with aclosing(prepared.events()) as events:  # stopping early stops the model
            async for event in events:
                yield event

    def _deltas(self, value: AnswerInput) -> AsyncGenerator[str, None]:
        return deltas(self.aevents(value))

    async def _answer(self, value: AnswerInput) -> str:
        done: DoneEvent = await self.answerer.answer(self._request(value))
        return done.answer

    def invoke(
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        """The whole answer text."""
        return self._runner.run(self._answer(input))

    async def ainvoke(
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        """The whole answer text."""
        return await self._answer(input)

    def stream(
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str]:
        """The answer's text deltas."""
        yield from self._runner.iterate(self._deltas(input))

    async def astream(
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        """The answer's text deltas."""
        async with aclosing(self._deltas(input)) as texts:
            async for text in texts:
                yield text
