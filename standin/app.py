"""The Starlette application: Ollama's routes, error shapes and lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from standin import OLLAMA_VERSION
from standin.errors import GoJSONResponse, OllamaError
from standin.hosts import EngineSettings, Hosts
from standin.inference import chat, embed, embeddings, generate
from standin.management import ps, pull, show, tags
from standin.scheduler import Faults, Scheduler
from standin.state import StandinState


async def root(request: Request) -> Response:
    """``GET /`` and ``HEAD /``."""
    return PlainTextResponse("Ollama is running")


async def version(request: Request) -> Response:
    """``GET /api/version``."""
    return GoJSONResponse({"version": OLLAMA_VERSION})


async def _ollama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OllamaError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return PlainTextResponse("405 method not allowed", status_code=405)
    if exc.status_code == 404:
        return PlainTextResponse("404 page not found", status_code=404)
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code)


def create_app(
    *,
    settings: EngineSettings | None = None,
    max_queue: int = 512,
    faults: Faults | None = None,
) -> Starlette:
    """Build the stand-in's ASGI app."""
    state = StandinState(
        scheduler=Scheduler(max_queue=max_queue, faults=faults),
        hosts=Hosts(settings or EngineSettings()),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.hosts.start()
        try:
            yield
        finally:
            await state.hosts.stop()

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", version, methods=["GET", "HEAD"]),
        Route("/api/tags", tags, methods=["GET", "HEAD"]),
        Route("/api/show", show, methods=["POST"]),
        Route("/api/ps", ps, methods=["GET"]),
        Route("/api/pull", pull, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
        Route("/api/embeddings", embeddings, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={OllamaError: _ollama_error, HTTPException: _http_error},
    )
    app.state.standin = state
    return app
