"""The Ollama embedding adapter: batched ``/api/embed`` calls fanned out over hosts.

An Ollama embedding model serves one request at a time, so throughput comes from
batching and from several Ollama servers (``DOCENT_OLLAMA_HOSTS``). By default requests
are sized in **tokens** and each host's request size and requests in flight are tuned to
its best measured rate (:mod:`retrieval.embed_tuning`); ``DOCENT_EMBED_BATCH_SIZE`` fixes
the inputs per request (and ``DOCENT_EMBED_CONCURRENCY`` the requests in flight) instead.
A batch goes to the least busy host with a free slot, avoiding hosts that rest after a
failure; a failed batch is retried (possibly on another host) with exponential backoff
and jitter on connection errors and 5xx answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import ollama
import orjson

from retrieval.embed_tuning import Bounds, Plan, ThroughputTuner, TuningMemory
from retrieval.errors import OllamaFailed, OllamaUnavailable
from retrieval.ollama_client import (
    is_retryable,
    make_async_client,
    model_info_from_show,
    ollama_errors,
)
from retrieval.settings import OllamaSettings
from retrieval.tokens import count_tokens_batch
from retrieval.types import ModelInfo

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 8.0
COUNT_IN_THREAD_FROM = 64
"""Token counting of this many texts or more runs off the event loop."""


@dataclass
class _Host:
    url: str
    client: ollama.AsyncClient
    tuner: ThroughputTuner
    in_flight: int = 0
    failures: int = 0
    """Failures in a row; reset by a success."""
    resting_until: float = 0.0
    """``time.monotonic()`` until which the host is avoided after a failure."""


def _plans(settings: OllamaSettings) -> tuple[Plan, Bounds]:
    """Where each host starts, and the limits adaptive tuning stays within."""
    bounds = Bounds(
        min_tokens=min(512, settings.embed_max_batch_tokens),
        max_tokens=settings.embed_max_batch_tokens,
        max_concurrency=max(settings.embed_max_concurrency, settings.embed_concurrency),
        max_request_seconds=min(30.0, settings.timeout_seconds / 4),
    )
    if settings.embed_batch_size is not None:
        fixed = Plan(sys.maxsize, settings.embed_batch_size, settings.embed_concurrency)
        return fixed, bounds
    start = Plan(
        batch_tokens=min(settings.embed_batch_tokens, bounds.max_tokens),
        max_inputs=bounds.max_inputs,
        concurrency=settings.embed_concurrency,
    )
    return start, bounds


def _batch_end(tokens: Sequence[int], start: int, plan: Plan) -> int:
    """End of the batch from ``start``: as many inputs as fit the plan (at least one)."""
    end, total = start, 0
    limit = min(len(tokens), start + plan.max_inputs)
    while end < limit and (end == start or total + tokens[end] <= plan.batch_tokens):
        total += tokens[end]
        end += 1
    return end


class OllamaEmbedder:
    """Implements :class:`retrieval.types.Embedder` over Ollama's ``/api/embed``.

    Inputs are sent with ``truncate=True`` (Ollama's default) only as a safety net:
    the chunker already sizes chunks to fit the model's context.
    """

    def __init__(self, settings: OllamaSettings, *, model: str | None = None) -> None:
        self._settings = settings
        self._model = model or settings.embed_model
        start, bounds = _plans(settings)
        self.adaptive = settings.embed_batch_size is None
        memory = (
            TuningMemory(settings.embed_tuning_file)
            if self.adaptive and settings.embed_tuning_file is not None
            else None
        )
        self._hosts = [
            _Host(
                url=url,
                client=make_async_client(url, settings.timeout_seconds),
                tuner=ThroughputTuner(
                    start, bounds, memory=memory, key=f"{url} {self._model}", adaptive=self.adaptive
                ),
            )
            for url in settings.embed_urls
        ]
        self._slot_freed = asyncio.Event()
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
        """Embed ``texts`` in batches, concurrently; vectors come back in input order.

        Each text's tokens are counted first, to size the requests; a caller that knows
        the counts already calls :meth:`embed_counted`.
        """
        if not texts:
            return []
        return await self.embed_counted(texts, await self._count(texts))

    async def embed_counted(self, texts: Sequence[str], tokens: Sequence[int]) -> list[list[float]]:
        """:meth:`embed_documents` for texts whose token counts the caller knows.

        ``tokens[i]`` is what :func:`retrieval.tokens.count_tokens` gives for ``texts[i]``
        (the ingest's chunker has it for every chunk: counting again in this process cost
        an ingest about 1.3 CPU-s per 6,000 chunks). Texts are sent shortest first, so
        each request holds texts of similar length: a server pads a batch to its longest
        input, and sorting within each request (as the stand-in does) cannot undo a
        request that mixes lengths.

        Raises:
            ValueError: ``tokens`` and ``texts`` differ in length.
        """
        if len(tokens) != len(texts):
            raise ValueError(f"{len(tokens)} token counts for {len(texts)} texts")
        if not texts:
            return []
        order = sorted(range(len(texts)), key=tokens.__getitem__)
        sizes = [tokens[i] for i in order]
        tasks: list[asyncio.Task[list[list[float]]]] = []
        try:
            start = 0
            while start < len(texts):
                host = await self._reserve()
                failed = next((t for t in tasks if t.done() and t.exception()), None)
                if failed is not None:
                    self._release(host)
                    failed.result()  # raises the batch's error
                end = _batch_end(sizes, start, host.tuner.plan)
                batch = [texts[i] for i in order[start:end]]
                tasks.append(asyncio.ensure_future(self._send(host, batch, sum(sizes[start:end]))))
                start = end
            results = await asyncio.gather(*tasks)
        except BaseException:
            # one batch failed (or we were cancelled): stop the others, don't leave them running
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        vectors: list[list[float]] = [[] for _ in texts]
        sent = (vector for batch in results for vector in batch)
        for index, vector in zip(order, sent, strict=True):
            vectors[index] = vector
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        host = await self._reserve()
        return (await self._send(host, [text], 0))[0]

    def plans(self) -> dict[str, Plan]:
        """Each host's current plan (request size, requests in flight), by URL."""
        return {h.url: h.tuner.plan for h in self._hosts}

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

    async def _count(self, texts: Sequence[str]) -> list[int]:
        if not self.adaptive:
            return [0] * len(texts)
        if len(texts) < COUNT_IN_THREAD_FROM:
            return count_tokens_batch(list(texts))
        return await asyncio.to_thread(count_tokens_batch, list(texts))

    def _free_host(self) -> _Host | None:
        """The least busy host with a free slot, among those not resting if any is not."""
        now = time.monotonic()
        awake = [h for h in self._hosts if h.resting_until <= now] or self._hosts
        free = [h for h in awake if h.in_flight < h.tuner.plan.concurrency]
        return min(free, key=lambda h: (h.in_flight, h.failures), default=None)

    async def _reserve(self) -> _Host:
        """Wait for a slot on some host and take it (give it back with :meth:`_release`)."""
        while True:
            host = self._free_host()
            if host is not None:
                host.in_flight += 1
                return host
            self._slot_freed.clear()
            now = time.monotonic()
            wake = [h.resting_until - now for h in self._hosts if h.resting_until > now]
            # asyncio.timeout, not wait_for: in 3.11 wait_for drops a cancel that lands as
            # the slot frees, and the cancelled request would go on to take the slot
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wake, default=None)):
                    await self._slot_freed.wait()

    def _release(self, host: _Host) -> None:
        host.in_flight -= 1
        self._slot_freed.set()

    async def _send(self, host: _Host, batch: list[str], tokens: int) -> list[list[float]]:
        """Embed one batch on ``host`` (whose slot the caller reserved), retrying on failures."""
        attempt = 0
        while True:
            began = time.monotonic()
            host.tuner.request_started()
            try:
                self.calls += 1
                with ollama_errors(host.url, self._model):
                    vectors = await self._post(host, batch)
            except Exception as exc:
                host.tuner.request_failed()
                self._release(host)
                delay = self._after_failure(host, exc, attempt)
                attempt += 1
                await asyncio.sleep(delay)
                host = await self._reserve()
                continue
            except BaseException:
                host.tuner.request_failed()
                self._release(host)
                raise
            host.tuner.request_finished(tokens, time.monotonic() - began)
            host.failures, host.resting_until = 0, 0.0
            self._release(host)
            if len(vectors) != len(batch):
                raise OllamaFailed(
                    f"Ollama at {host.url} returned {len(vectors)} embeddings for "
                    f"{len(batch)} inputs."
                )
            return vectors

    async def _post(self, host: _Host, batch: list[str]) -> list[list[float]]:
        """One ``/api/embed`` request through the host's ``ollama`` client.

        The answer is decoded with orjson, not the client's pydantic model: validating
        every float of every vector that way took more of an ingest's CPU than the
        store's own bookkeeping (py-spy, instant embedding server). The client's
        transport, headers and error mapping are kept.
        """
        body = {
            "model": self._model,
            "input": batch,
            "truncate": True,
            "keep_alive": self._settings.keep_alive,
        }
        response = await host.client._request_raw(  # type: ignore[no-untyped-call]
            "POST", "/api/embed", json=body
        )
        try:
            embeddings = orjson.loads(response.content)["embeddings"]
            return [list(map(float, vector)) for vector in embeddings]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise OllamaFailed(
                f"Ollama at {host.url} answered /api/embed without a list of embeddings."
            ) from exc

    def _after_failure(self, host: _Host, exc: Exception, attempt: int) -> float:
        """Rest the host; raise if ``exc`` is final, else return the delay before a retry."""
        if not is_retryable(exc):
            raise exc
        host.failures += 1
        rest = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0**host.failures)
        host.resting_until = time.monotonic() + rest
        if attempt >= self._settings.max_retries:
            if isinstance(exc, httpx.TransportError):  # e.g. the server hung up
                raise OllamaUnavailable.at(host.url) from exc
            raise exc
        delay: float = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0**attempt)
        delay *= random.uniform(0.5, 1.0)
        log.warning(
            "embed retry host=%s attempt=%d delay=%.2fs error=%s", host.url, attempt + 1, delay, exc
        )
        return delay
