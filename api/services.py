"""What the routes reach through ``api.deps``: the runtime's parts plus the API's own.

Nothing long-lived is built here: the parts come from the composition root
(:func:`ingest.runtime.open_runtime`, which the lifespan opens and closes). The API adds
only what exists per app: the generation limiter and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import httpx

from api.limiter import GenerationLimiter, search_limiter
from api.metrics import Metrics
from api.uploads import PipelineIngestor, UploadIngestor
from ingest.jobs import JobRunner
from ingest.runtime import Runtime
from retrieval.answer import Answerer
from retrieval.ollama_client import OllamaAdmin
from retrieval.search import Searcher
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.types import ChatModel, Embedder


@dataclass
class Services:
    """Everything a request may need, for one app.

    Attributes:
        runtime: the long-lived parts (store, models, searcher, answerer, ingestor).
        limiter: bounds concurrent generations, with a queue.
        metrics: the app's Prometheus metrics.
        upload_ingestor: the upload entry of the pipeline (default: over the runtime's
            ingestor, built on the first upload).
        searches: bounds concurrent ``/v1/search`` requests, with a queue.
    """

    runtime: Runtime
    limiter: GenerationLimiter
    metrics: Metrics
    upload_ingestor: UploadIngestor | None = field(default=None)
    searches: GenerationLimiter = field(default_factory=lambda: search_limiter(4, 64))

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, *, upload_ingestor: UploadIngestor | None = None
    ) -> Services:
        """The API's services over ``runtime`` (which its owner closes)."""
        api = runtime.settings.api
        limiter = GenerationLimiter(api.max_concurrent_generations, api.max_queued_generations)
        metrics = Metrics(
            embedding_calls=lambda: int(getattr(runtime.embedder, "calls", 0)),
            generations=lambda: (limiter.active, limiter.waiting),
            jobs=lambda: runtime.jobs.stats(),
        )
        searches = search_limiter(api.max_concurrent_searches, api.max_queued_searches)
        return cls(runtime, limiter, metrics, upload_ingestor, searches)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def store(self) -> ChunkStore:
        return self.runtime.store

    @property
    def embedder(self) -> Embedder:
        return self.runtime.embedder

    @property
    def chat(self) -> ChatModel:
        return self.runtime.chat

    @property
    def searcher(self) -> Searcher:
        return self.runtime.searcher

    @property
    def answerer(self) -> Answerer:
        return self.runtime.answerer

    @property
    def jobs(self) -> JobRunner:
        """Ingestion jobs (started by the lifespan, or on first use)."""
        return self.runtime.jobs

    @property
    def ollama(self) -> OllamaAdmin:
        return self.runtime.ollama

    @property
    def ollama_http(self) -> httpx.AsyncClient:
        """A raw HTTP client for Ollama (the ``/api/embed`` pass-through)."""
        return self.runtime.ollama.http

    @cached_property
    def ingest(self) -> UploadIngestor:
        return self.upload_ingestor or PipelineIngestor(self.runtime.ingestor)
