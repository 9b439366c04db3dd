"""How the Ollama-compatible routes read requests: as Ollama's own server does.

Ollama parses a request body as JSON whatever its declared ``Content-Type``, so
``curl -d '{...}'`` (which declares ``application/x-www-form-urlencoded``) works. Docent
does the same on the Ollama routes only (they use :class:`OllamaRoute`). That is safe
because cross-origin writes are kept out by origin, on every route, before any route runs
(:class:`api.edge.EdgeGuard`), rather than by content type.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response

from api.edge import STATE_CHANGING
from api.errors import NativeRoute

JSON = "application/json"


def _with_json_content_type(request: Request) -> Request:
    """``request`` declaring ``application/json`` (the body is read as JSON whatever it said)."""
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media == JSON or media.endswith("+json"):
        return request
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"content-type"]
    headers.append((b"content-type", JSON.encode()))
    return Request({**request.scope, "headers": headers}, request.receive)


class OllamaRoute(NativeRoute):
    """A route of the Ollama-compatible facade.

    Errors take Ollama's shape (``{"error": "..."}``); the body is read as JSON whatever
    its content type (foreign-origin writes never get here: :class:`api.edge.EdgeGuard`).
    """

    error_family = "ollama"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            if request.method in STATE_CHANGING:
                request = _with_json_content_type(request)
            return await handler(request)

        return route
