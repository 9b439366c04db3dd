"""The services the app's lifespan builds once and the routes reach through ``api.deps``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from api.limiter import GenerationLimiter
from api.metrics import Metrics
from api.uploads import PipelineIngestor, UploadIngestor
from ingest.pipeline import Ingestor
from retrieval.answer import Answerer
from retrieval.chat import OllamaChat
from retrieval.embedder import OllamaEmbedder
from retrieval.search import Searcher
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.types import ChatModel, Embedder

logger = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


@dataclass
class Services:
    """Everything a request may need, built once per app.

    Attributes:
        settings: the settings tree the app was created with.
        store: the Chroma-backed chunk store (sync: call it via ``asyncio.to_thread``).
        embedder: the embedding model client (queries, uploads, ``/api/embed``'s model).
        chat: the chat model client.
        searcher: retrieval (dense / lexical / hybrid).
        answerer: grounded answers (retrieve, budget, stream events).
        ingest: the upload entry of the ingestion pipeline.
        ollama_http: a raw HTTP client for Ollama (readiness, ``/api/embed`` pass-through).
        limiter: bounds concurrent generations, with a queue.
        metrics: the app's Prometheus metrics.
    """

    settings: Settings
    store: ChunkStore
    embedder: Embedder
    chat: ChatModel
    searcher: Searcher
    answerer: Answerer
    ingest: UploadIngestor
    ollama_http: httpx.AsyncClient
    limiter: GenerationLimiter
    metrics: Metrics
    closers: list[Closer] = field(default_factory=list)

    @classmethod
    def compose(
        cls,
        settings: Settings,
        *,
        store: ChunkStore,
        embedder: Embedder,
        chat: ChatModel,
        ingest: UploadIngestor,
        ollama_http: httpx.AsyncClient | None = None,
        closers: Sequence[Closer] = (),
    ) -> Services:
        """Wire the services from their parts (tests pass fakes here).

        Args:
            settings: the settings tree.
            store: the chunk store.
            embedder: the embedder (``calls`` is exported as a metric when present).
            chat: the chat model.
            ingest: the upload entry of the ingestion pipeline.
            ollama_http: HTTP client for Ollama; default: one for ``settings.ollama.base_url``.
            closers: extra cleanup to await on :meth:`aclose`.
        """
        http = ollama_http or httpx.AsyncClient(
            base_url=settings.ollama.base_url, timeout=settings.ollama.timeout_seconds
        )
        searcher = Searcher(settings, store, embedder)
        limiter = GenerationLimiter(
            settings.api.max_concurrent_generations, settings.api.max_queued_generations
        )
        metrics = Metrics(
            embedding_calls=lambda: int(getattr(embedder, "calls", 0)),
            generations=lambda: (limiter.active, limiter.waiting),
        )
        return cls(
            settings=settings,
            store=store,
            embedder=embedder,
            chat=chat,
            searcher=searcher,
            answerer=Answerer(settings, searcher, chat),
            ingest=ingest,
            ollama_http=http,
            limiter=limiter,
            metrics=metrics,
            closers=[*closers, http.aclose],
        )

    @classmethod
    async def from_settings(cls, settings: Settings) -> Services:
        """The real clients: Chroma (embedded or server), Ollama embedder and chat.

        Raises:
            ChromaUnavailable: Chroma cannot be opened (the message says how to fix it).
        """
        store = await asyncio.to_thread(ChunkStore.from_settings, settings.chroma)
        embedder = OllamaEmbedder(settings.ollama)
        chat = OllamaChat(settings.ollama)
        ingestor = Ingestor(store, embedder, settings)

        async def close_ingestor() -> None:
            await asyncio.to_thread(ingestor.close)

        return cls.compose(
            settings,
            store=store,
            embedder=embedder,
            chat=chat,
            ingest=PipelineIngestor(ingestor),
            closers=[close_ingestor, embedder.aclose, chat.aclose],
        )

    async def aclose(self) -> None:
        """Close every client (errors are logged, not raised)."""
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                logger.exception("event=close_failed closer=%r", close)
