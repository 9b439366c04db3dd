"""The app factory: ``create_app()`` wires settings, services, routes and error handlers.

The lifespan opens the composition root (:func:`ingest.runtime.open_runtime`) once and
closes it at shutdown; routes reach its parts only through :mod:`api.deps`. Tests pass
``services=`` (a runtime of fakes) instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.edge import EdgeGuard
from api.errors import install_error_handlers
from api.heap import freeze_startup_heap
from api.metrics import Metrics, MetricsMiddleware
from api.routes import ROUTERS
from api.services import Services
from ingest.runtime import open_runtime
from retrieval.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Grounded answers from your documents. Native API under /v1 (query, search, "
    "collections, documents), an Ollama-compatible facade under /api (collection <c> is "
    "the model docent/<c>), and OpenAI-compatible /v1/models and /v1/chat/completions."
)


CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    "User-Agent",
    "X-Requested-With",
    # what the openai SDK sends from a browser (Ollama allows the same list)
    "OpenAI-Beta",
    "x-stainless-arch",
    "x-stainless-async",
    "x-stainless-custom-poll-interval",
    "x-stainless-helper-method",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-poll-helper",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
]
"""Request headers browsers may send cross-origin (a preflight asking for others fails)."""


def cors_options(origins: list[str]) -> dict[str, object]:
    """CORSMiddleware arguments for an allowlist like ``OLLAMA_ORIGINS``.

    Exact origins, ``*`` for any, and ``*`` wildcards inside an origin (``http://localhost:*``).
    """
    exact = [o for o in origins if "*" not in o]
    patterns = [o for o in origins if "*" in o and o != "*"]
    options: dict[str, object] = {
        "allow_origins": ["*"] if "*" in origins else exact,
        "allow_methods": ["GET", "POST", "DELETE", "OPTIONS", "HEAD"],
        "allow_headers": CORS_HEADERS,
    }
    if patterns:
        options["allow_origin_regex"] = "|".join(
            ".*".join(re.escape(part) for part in p.split("*")) for p in patterns
        )
    return options


@asynccontextmanager
async def _loop_lag_measured(metrics: Metrics) -> AsyncIterator[None]:
    """The event-loop lag monitor runs for as long as the app serves."""
    metrics.loop_lag.start()
    try:
        yield
    finally:
        await metrics.loop_lag.stop()


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the Docent API.

    Args:
        settings: the settings tree; default :func:`get_settings` (or ``services.settings``).
        services: ready-made services (tests: fakes); default: built by the lifespan from
            ``settings`` and closed at shutdown.
        freeze_heap: once started, keep start-up's objects out of the garbage collector's
            full collections (:func:`api.heap.freeze_startup_heap`); for a process that
            serves this one app (``docent serve``), not for one that builds many.

    Returns:
        The FastAPI app (serve it with uvicorn; ``docent serve`` does).
    """
    if services is not None:
        settings = services.settings
    resolved = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            async with _loop_lag_measured(services.metrics):
                yield
            return
        async with open_runtime(resolved) as runtime:
            built = Services.from_runtime(runtime)
            app.state.services = built
            async with _loop_lag_measured(built.metrics):
                await runtime.jobs.start()  # jobs a stop left queued or running resume now
                if freeze_heap:
                    frozen = freeze_startup_heap()
                    logger.info("event=heap_frozen objects=%d", frozen)
                yield

    app = FastAPI(title="Docent", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    if services is not None:
        app.state.services = services

    def current_metrics() -> Metrics | None:
        built: Services | None = getattr(app.state, "services", None)
        return built.metrics if built is not None else None

    routes = [route for router in ROUTERS for route in router.routes]
    install_error_handlers(app, routes)
    # innermost first: CORS (outermost) -> metrics -> the edge checks -> routes
    app.add_middleware(EdgeGuard, settings=resolved.api, routes=routes)
    app.add_middleware(MetricsMiddleware, metrics=current_metrics)
    if resolved.api.cors_origins:
        app.add_middleware(CORSMiddleware, **cors_options(resolved.api.cors_origins))  # type: ignore[arg-type]
    for router in ROUTERS:
        app.include_router(router)
    return app


def create_served_app() -> FastAPI:
    """The app ``docent serve`` runs: :func:`create_app`, its start-up heap frozen once ready."""
    return create_app(freeze_heap=True)
