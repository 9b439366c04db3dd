"""Prometheus metrics of one app (its own registry, so tests can build many apps)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.loop_lag import LoopLagMonitor
from retrieval.events import DoneEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_LAG_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.5,
    1,
    2.5,
    5,
)
"""Fine between 25 and 250 ms, where a stall is felt and where serving work is judged."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other (clients may send any token) counts as ``other``."""


class _EmbeddingCalls(Collector):
    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "docent_embedding_calls", "Embedding requests made to Ollama (/api/embed)."
        )
        family.add_metric([], float(self._read()))
        yield family


JobStats = tuple[Mapping[str, int], float, float]
"""Ingestion jobs by state, and files and chunks per second of the running ones."""
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class _Jobs(Collector):
    def __init__(self, read: Callable[[], JobStats]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state, files_rate, chunks_rate = self._read()
        jobs = GaugeMetricFamily("docent_jobs", "Ingestion jobs by state.", labels=["state"])
        for state in JOB_STATES:
            jobs.add_metric([state], float(by_state.get(state, 0)))
        yield jobs
        yield GaugeMetricFamily(
            "docent_jobs_files_per_second",
            "Files finished per second by the running ingestion jobs.",
            value=files_rate,
        )
        yield GaugeMetricFamily(
            "docent_jobs_chunks_per_second",
            "Chunks embedded per second by the running ingestion jobs.",
            value=chunks_rate,
        )


class Metrics:
    """Requests, latencies, answer tokens, embedding calls, ingested chunks, event-loop lag.

    ``loop_lag`` is a :class:`LoopLagMonitor` feeding ``docent_event_loop_lag_seconds``
    (a histogram) and ``docent_event_loop_lag_max_seconds`` (the longest since start); the
    app's lifespan starts it.

    Args:
        embedding_calls: reads the embedder's running count of ``/api/embed`` requests.
        generations: reads (active, waiting) of the generation limiter.
        jobs: reads the ingestion jobs' :data:`JobStats`.
    """

    def __init__(
        self,
        embedding_calls: Callable[[], int] = lambda: 0,
        generations: Callable[[], tuple[int, int]] = lambda: (0, 0),
        jobs: Callable[[], JobStats] = lambda: ({}, 0.0, 0.0),
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "docent_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "docent_http_request_duration_seconds",
            "Time from request to the end of the response (whole stream included).",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "docent_answer_tokens",
            "Tokens of answers, as counted by Ollama.",
            ["kind"],
            registry=self.registry,
        )
        self.answers = Counter(
            "docent_answers", "Answers finished, by outcome.", ["outcome"], registry=self.registry
        )
        self.first_token = Histogram(
            "docent_answer_first_token_seconds",
            "Time from the question to the first answer token.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingested_chunks = Counter(
            "docent_ingested_chunks", "Chunks written by uploads.", registry=self.registry
        )
        self.ingested_files = Counter(
            "docent_ingested_files",
            "Uploaded files, by result.",
            ["status"],
            registry=self.registry,
        )
        active = Gauge(
            "docent_generations_active", "Answers being generated.", registry=self.registry
        )
        waiting = Gauge(
            "docent_generations_waiting", "Answers waiting for a slot.", registry=self.registry
        )
        active.set_function(lambda: float(generations()[0]))
        waiting.set_function(lambda: float(generations()[1]))
        self.registry.register(_EmbeddingCalls(embedding_calls))
        self.registry.register(_Jobs(jobs))
        lag = Histogram(
            "docent_event_loop_lag_seconds",
            "How late the event loop woke a 10 ms timer (time the loop was held).",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = LoopLagMonitor(observe=lag.observe)
        lag_max = Gauge(
            "docent_event_loop_lag_max_seconds",
            "The longest event-loop lag since the server started.",
            registry=self.registry,
        )
        lag_max.set_function(lambda: self.loop_lag.max_lag)

    def observe_answer(self, done: DoneEvent) -> None:
        """Count one finished answer and its tokens."""
        self.answers.labels("found" if done.found else "not_found").inc()
        if done.usage is not None:
            self.tokens.labels("prompt").inc(done.usage.prompt_tokens or 0)
            self.tokens.labels("completion").inc(done.usage.completion_tokens or 0)
        if done.timings is not None and done.timings.first_token_ms is not None:
            self.first_token.observe(done.timings.first_token_ms / 1000)

    def observe_error(self, code: str) -> None:
        """Count an answer that failed after streaming began."""
        self.answers.labels(f"error:{code}").inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts requests and times them to the end of the response body (streams included).

    The route label is the matched path template (``/v1/collections/{name}``), so the
    label set stays small; unmatched paths count as ``unmatched``.
    """

    def __init__(self, app: ASGIApp, metrics: Callable[[], Metrics | None]) -> None:
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics = self._metrics()
            if metrics is not None:
                route = scope.get("route")
                label = str(getattr(route, "path", "unmatched"))
                method = str(scope.get("method", ""))
                method = method if method in _METHODS else "other"  # bounded label set
                metrics.requests.labels(method, label, str(status)).inc()
                metrics.latency.labels(method, label).observe(time.perf_counter() - start)
