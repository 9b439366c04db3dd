"""The Ollama embedding adapter: batched ``/api/embed`` calls fanned out over hosts.

An Ollama embedding model serves one request at a time, so throughput comes from
batching (``embed_batch_size`` inputs a request) and from several Ollama servers
(``DOCENT_OLLAMA_HOSTS``). Each host gets at most ``embed_concurrency`` requests in
flight; a batch goes to the least busy host, and a failed batch is retried (possibly on
another host) with exponential backoff and jitter on connection errors and 5xx answers.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import ollama

from retrieval.errors import OllamaFailed, OllamaUnavailable
from retrieval.ollama_client import (
    is_retryable,
    make_async_client,
    model_info_from_show,
    ollama_errors,
)
from retrieval.settings import OllamaSettings
from retrieval.types import ModelInfo

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 8.0


@dataclass
class _Host:
    url: str
    client: ollama.AsyncClient
    limit: asyncio.Semaphore
    in_flight: int = 0
    failures: int = field(default=0)
    """Failures in a row; reset by a success."""
    resting_until: float = 0.0
    """``time.monotonic()`` until which the host is avoided after a failure."""


class OllamaEmbedder:
    """Implements :class:`retrieval.types.Embedder` over Ollama's ``/api/embed``.

    Inputs are sent with ``truncate=True`` (Ollama's default) only as a safety net:
    the chunker already sizes chunks to fit the model's context.
    """

    def __init__(self, settings: OllamaSettings, *, model: str | None = None) -> None:
        self._settings = settings
        self._model = model or settings.embed_model
        self._hosts = [
            _Host(
                url=url,
                client=make_async_client(url, settings.timeout_seconds),
                limit=asyncio.Semaphore(settings.embed_concurrency),
            )
            for url in settings.embed_urls
        ]
        self._info: ModelInfo | None = None
        self.calls = 0
        """Number of ``/api/embed`` requests made (retries included)."""

    @property
    def model(self) -> str:
        return self._model

    @property
    def urls(self) -> list[str]:
        return [h.url for h in self._hosts]

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in batches, concurrently; vectors come back in input order."""
        size = self._settings.embed_batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        tasks = [asyncio.ensure_future(self._embed_batch(b)) for b in batches]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # one batch failed (or we were cancelled): stop the others, don't leave them running
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [vector for batch in results for vector in batch]

    async def embed_query(self, text: str) -> list[float]:
        return (await self._embed_batch([text]))[0]

    async def info(self) -> ModelInfo:
        """The model's ``/api/show`` facts (cached).

        Raises:
            OllamaModelMissing: the model is not pulled on the primary host.
            OllamaUnavailable: Ollama does not answer.
        """
        if self._info is None:
            host = self._hosts[0]
            with ollama_errors(host.url, self._model):
                show = await host.client.show(self._model)
            self._info = model_info_from_show(self._model, show)
        return self._info

    async def aclose(self) -> None:
        for host in self._hosts:
            await host.client.close()  # type: ignore[no-untyped-call]

    def _pick(self) -> _Host:
        """The least busy host, avoiding hosts that rest after a failure while others can."""
        now = time.monotonic()
        return min(self._hosts, key=lambda h: (h.resting_until > now, h.in_flight, h.failures))

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        attempt = 0
        while True:
            host = self._pick()
            host.in_flight += 1
            try:
                async with host.limit:
                    self.calls += 1
                    with ollama_errors(host.url, self._model):
                        response = await host.client.embed(
                            model=self._model,
                            input=batch,
                            truncate=True,
                            keep_alive=self._settings.keep_alive,
                        )
                host.failures, host.resting_until = 0, 0.0
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                host.failures += 1
                rest = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**host.failures)
                host.resting_until = time.monotonic() + rest
                if attempt >= self._settings.max_retries:
                    if isinstance(exc, httpx.TransportError):  # e.g. the server hung up
                        raise OllamaUnavailable.at(host.url) from exc
                    raise
                delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
                delay *= random.uniform(0.5, 1.0)
                log.warning(
                    "embed retry host=%s attempt=%d delay=%.2fs error=%s",
                    host.url,
                    attempt + 1,
                    delay,
                    exc,
                )
                attempt += 1
                await asyncio.sleep(delay)
                continue
            finally:
                host.in_flight -= 1
            vectors = [list(map(float, v)) for v in response.embeddings]
            if len(vectors) != len(batch):
                raise OllamaFailed(
                    f"Ollama at {host.url} returned {len(vectors)} embeddings for "
                    f"{len(batch)} inputs."
                )
            return vectors
