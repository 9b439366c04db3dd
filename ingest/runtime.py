"""The composition root: Docent's long-lived parts, built once from the settings.

Every door asks :func:`open_runtime` for its parts instead of building its own: the CLI
(``ask``, ``ingest``, ``eval retrieval``, ``doctor``), the API's lifespan, evaluation,
the notebooks and the LangChain adapters::

    open_runtime(settings)                     closes, once, what it built
      ├── ollama    OllamaAdmin                readiness, pulls, /api/embed pass-through
      ├── embedder  OllamaEmbedder ──┬──────── searcher  Searcher (dense/lexical/hybrid)
      ├── store     ChunkStore ──────┤               └── answerer  Answerer (+ chat)
      ├── chat      OllamaChat       └──────── ingestor  Ingestor (reader pool: lazy)
      │                                              └── jobs  JobRunner (docent serve)
      └── retriever() / answer_runnable()      LangChain adapters over the above

It lives in ``ingest`` because it builds the :class:`~ingest.pipeline.Ingestor`, and
imports point ``api -> ingest -> retrieval``: the API and the CLI (in ``api``) can use
it, and ``retrieval`` stays free of ingestion.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ingest.pipeline import FileReader, Ingestor
from retrieval.chat import OllamaChat
from retrieval.embedder import OllamaEmbedder
from retrieval.ollama_client import PROBE_TIMEOUT_SECONDS, OllamaAdmin
from retrieval.search import Searcher, follow_writes
from retrieval.settings import Settings, get_settings
from retrieval.store import ChunkStore
from retrieval.types import ChatModel, Embedder

if TYPE_CHECKING:  # imported where first used: ``docent ingest`` answers nothing
    from ingest.jobs import JobRunner
    from retrieval.answer import Answerer
    from retrieval.langchain_adapters import DocentAnswerRunnable, DocentRetriever

logger = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


class Runtime:
    """Docent's long-lived parts and who closes them.

    Parts passed to the constructor are borrowed: their owner closes them. What the
    runtime builds itself (the ingestor's reader pool, and whatever :func:`open_runtime`
    hands over) is closed by :meth:`aclose`, each exactly once.

    Args:
        settings: the settings tree every part was built from.
        store: the chunk store (None: opened without one, e.g. for ``docent doctor``).
        embedder: the embedding model.
        chat: the chat model.
        ollama: Ollama's management client.
        reader: how the ingestor reads files (None: worker processes, started on first use).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: ChunkStore | None,
        embedder: Embedder,
        chat: ChatModel,
        ollama: OllamaAdmin,
        reader: FileReader | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self.embedder = embedder
        self.chat = chat
        self.ollama = ollama
        self._reader = reader
        self._closers: list[Closer] = []
        self._closed = False

    @property
    def store(self) -> ChunkStore:
        """The chunk store.

        Raises:
            RuntimeError: the runtime was opened without one (``open_store=False``).
        """
        if self._store is None:
            raise RuntimeError("This runtime was opened without a store (open_store=False).")
        return self._store

    @cached_property
    def searcher(self) -> Searcher:
        return Searcher(self.settings, self.store, self.embedder)

    @cached_property
    def answerer(self) -> Answerer:
        from retrieval.answer import Answerer

        return Answerer(self.settings, self.searcher, self.chat)

    @cached_property
    def ingestor(self) -> Ingestor:
        """The ingestion pipeline, built on first use (with its reader pool)."""
        ingestor = Ingestor(self.store, self.embedder, self.settings, reader=self._reader)
        if self._reader is None:  # its own worker pool: ours to close
            self.own(lambda: asyncio.to_thread(ingestor.close))
        return ingestor

    @cached_property
    def jobs(self) -> JobRunner:
        """Ingestion jobs over the ingestor (``docent serve``); stopped before the ingestor."""
        from ingest.jobs import JobRunner

        ingestor = self.ingestor  # built first, so closed after the runner
        runner = JobRunner(self.settings, lambda: ingestor)
        self.own(runner.aclose)
        return runner

    def retriever(self, **fields: Any) -> DocentRetriever:
        """Search as a LangChain retriever (``fields``: collection, k, mode, filters, mmr)."""
        from retrieval.langchain_adapters import DocentRetriever

        return DocentRetriever(searcher=self.searcher, **fields)

    def answer_runnable(self, **options: Any) -> DocentAnswerRunnable:
        """Grounded answers as a LangChain Runnable (``options``: collection, k, mode)."""
        from retrieval.langchain_adapters import DocentAnswerRunnable

        return DocentAnswerRunnable(self.answerer, **options)

    def own(self, close: Closer) -> None:
        """Take charge of closing a part (closed in reverse order of :meth:`own`)."""
        self._closers.append(close)

    async def aclose(self) -> None:
        """Close everything this runtime owns, once (errors are logged, not raised)."""
        if self._closed:
            return
        self._closed = True
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                logger.exception("event=close_failed closer=%r", close)


@asynccontextmanager
async def open_runtime(
    settings: Settings | None = None,
    *,
    store: ChunkStore | None = None,
    embedder: Embedder | None = None,
    chat: ChatModel | None = None,
    ollama: OllamaAdmin | None = None,
    reader: FileReader | None = None,
    open_store: bool = True,
) -> AsyncIterator[Runtime]:
    """Build the parts from ``settings``, yield them, close what was built.

    A part passed in is used as is and left to its owner to close (tests pass fakes).

    Args:
        settings: the settings tree (default :func:`get_settings`).
        store: a store to use instead of opening the configured Chroma.
        embedder: an embedder instead of Ollama's.
        chat: a chat model instead of Ollama's.
        ollama: an Ollama management client instead of one for ``settings``.
        reader: a file reader for the ingestor instead of worker processes.
        open_store: False to open no store at all (``docent doctor`` checks Chroma itself).

    Raises:
        ChromaUnavailable: Chroma cannot be opened (the message says how to fix it).
    """
    settings = settings or get_settings()
    runtime: Runtime | None = None
    built: list[Closer] = []
    try:
        if ollama is None:
            ollama = OllamaAdmin(
                settings.ollama.base_url,
                min(settings.ollama.timeout_seconds, PROBE_TIMEOUT_SECONDS),
            )
            built.append(ollama.aclose)
        if embedder is None:
            ollama_embedder = OllamaEmbedder(settings.ollama)
            built.append(ollama_embedder.aclose)
            embedder = ollama_embedder
        if chat is None:
            ollama_chat = OllamaChat(settings.ollama)
            built.append(ollama_chat.aclose)
            chat = ollama_chat
        if store is None and open_store:
            opened = await asyncio.to_thread(ChunkStore.from_settings, settings.chroma)
            built.append(lambda: asyncio.to_thread(opened.close))
            store = opened
        if store is not None:  # every write through it keeps the derived indexes current
            await asyncio.to_thread(follow_writes, settings, store)
        runtime = Runtime(
            settings, store=store, embedder=embedder, chat=chat, ollama=ollama, reader=reader
        )
        for close in built:
            runtime.own(close)
        yield runtime
    finally:
        if runtime is not None:
            await runtime.aclose()
        else:  # failed while building: close what was built so far
            for close in reversed(built):
                await close()
