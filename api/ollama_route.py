"""How the Ollama-compatible routes read requests: as Ollama's own server does.

Ollama parses a request body as JSON whatever its declared ``Content-Type``, so
``curl -d '{...}'`` (which declares ``application/x-www-form-urlencoded``) works. Docent
does the same on the Ollama routes only (they use :class:`OllamaRoute`), and keeps
cross-origin writes out by origin rather than by content type: a state-changing request
whose ``Origin`` is neither the server's own origin nor in the CORS allowlist
(``DOCENT_CORS_ORIGINS``) is refused with 403, as Ollama refuses origins outside
``OLLAMA_ORIGINS``. Browsers always send ``Origin`` on cross-origin writes; server-side
clients (Open WebUI's backend, SDKs, curl) send none and are not affected.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response

from api.errors import NativeRoute
from retrieval.errors import CrossOriginRefused

JSON = "application/json"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _pattern(allowed: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in allowed.split("*")))


def origin_allowed(origin: str, allowlist: Sequence[str], host: str | None) -> bool:
    """Whether a request from ``origin`` may change state here.

    Args:
        origin: the request's ``Origin`` header.
        allowlist: ``DOCENT_CORS_ORIGINS``: exact origins, ``*``, or ``*`` wildcards
            inside an origin (``http://localhost:*``).
        host: the request's ``Host`` header; a page served by this server (same origin)
            is allowed.
    """
    if host and urllib.parse.urlsplit(origin).netloc.lower() == host.lower():
        return True
    for allowed in allowlist:
        if allowed == "*" or allowed == origin:
            return True
        if "*" in allowed and _pattern(allowed).fullmatch(origin):
            return True
    return False


def _allowlist(request: Request) -> Sequence[str]:
    services = getattr(request.app.state, "services", None)
    return services.settings.api.cors_origins if services is not None else ()


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
    its content type; foreign-origin writes are refused (403).
    """

    error_family = "ollama"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            origin = request.headers.get("origin")
            if (
                request.method in STATE_CHANGING
                and origin is not None
                and not origin_allowed(origin, _allowlist(request), request.headers.get("host"))
            ):
                raise CrossOriginRefused(origin)
            if request.method in STATE_CHANGING:
                request = _with_json_content_type(request)
            return await handler(request)

        return route
