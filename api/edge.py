"""The HTTP edge: what every request must pass before any route reads its body.

:class:`EdgeGuard` is one ASGI middleware, outermost, applying in order:

1. **Host** (DNS rebinding): the ``Host`` header must be an IP address, ``localhost`` (or
   ``*.localhost``), or match ``DOCENT_ALLOWED_HOSTS``; else 403 ``host_not_allowed``.
   A rebound name (``evil.example`` resolving to 127.0.0.1) fails this check.
2. **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is
   neither this server's own nor in ``DOCENT_CORS_ORIGINS`` gets 403
   ``cross_origin_refused``, keys or no keys (browsers send ``Origin`` on every
   cross-origin write; SDKs and curl send none), as Ollama refuses origins outside
   ``OLLAMA_ORIGINS``.
3. **Key**: a route that needs a key (it depends on :func:`api.auth.require_api_key`)
   without an accepted one gets 401 before a byte of its body is read.
4. **Uploads at once**: at most ``DOCENT_MAX_UPLOADS`` uploads are read and ingested at
   once; up to ``DOCENT_MAX_QUEUED_UPLOADS`` more wait their turn with their bodies
   unread; beyond that, 503 ``busy``.
5. **Body size and pace**: a body over its cap (``DOCENT_MAX_UPLOAD_MB`` for uploads,
   ``DOCENT_MAX_BODY_KB`` for everything else) gets 413, declared or counted as it
   arrives; a body not complete within ``DOCENT_BODY_TIMEOUT_S`` gets 408.

Errors answered here take the shape of the door the path belongs to
(:func:`api.errors.family_for_unmatched`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import urllib.parse
from collections.abc import Iterator, Sequence

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import check_api_key, require_api_key
from api.errors import error_body, family_for_unmatched
from api.uploads import UPLOAD_PATH, upload_limit_message
from retrieval.errors import (
    Busy,
    CrossOriginRefused,
    DocentError,
    HostNotAllowed,
    PayloadTooLarge,
    Unauthorized,
)
from retrieval.settings import ApiSettings

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _pattern(allowed: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in allowed.split("*")), re.IGNORECASE)


def _matches(value: str, allowlist: Sequence[str]) -> bool:
    return any(
        allowed == "*" or allowed.lower() == value.lower() or _pattern(allowed).fullmatch(value)
        for allowed in allowlist
    )


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
    return _matches(origin, allowlist)


def host_name(host: str) -> str:
    """The name of a ``Host`` header without its port (``[::1]:8000`` -> ``::1``)."""
    host = host.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


def host_allowed(host: str | None, allowlist: Sequence[str]) -> bool:
    """Whether a request with this ``Host`` header may be served (see the module doc).

    A missing header (HTTP/1.0) is allowed: a browser always sends one.
    """
    if not host:
        return True
    name = host_name(host).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return _matches(name, allowlist)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def needs_key(route: APIRoute) -> bool:
    """Whether ``route`` depends on :func:`api.auth.require_api_key`."""
    return any(dep.call is require_api_key for dep in _dependencies(route.dependant))


class EdgeGuard:
    """The edge checks of the module doc, before the app sees a request.

    Args:
        app: the ASGI app.
        settings: the ``api`` settings (keys, origins, hosts, caps).
        routes: the app's API routes (those of :data:`api.routes.ROUTERS`).
    """

    def __init__(self, app: ASGIApp, settings: ApiSettings, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.settings = settings
        self.routes = routes
        self.uploads = 0
        self.waiting_uploads = 0
        self._upload_slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = scope["method"] == "POST" and UPLOAD_PATH.fullmatch(scope["path"]) is not None
        refusal = self._refusal(scope, headers, upload)
        if refusal is not None:
            await self._answer(scope, refusal, receive, send)
            return
        limit = (
            int(self.settings.max_upload_mb * 1024 * 1024)
            if upload
            else self.settings.max_body_kb * 1024
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._answer(scope, PayloadTooLarge(self._too_large(upload)), receive, send)
            return
        if not upload:
            await self.app(scope, self._bounded(receive, limit, upload), send)
            return
        slots = self._slots()
        self.waiting_uploads += 1
        try:
            await slots.acquire()
        finally:
            self.waiting_uploads -= 1
        self.uploads += 1
        try:
            await self.app(scope, self._bounded(receive, limit, upload), send)
        finally:
            self.uploads -= 1
            slots.release()

    def _slots(self) -> asyncio.Semaphore:
        if self._upload_slots is None:
            self._upload_slots = asyncio.Semaphore(self.settings.max_concurrent_uploads)
        return self._upload_slots

    def _refusal(self, scope: Scope, headers: Headers, upload: bool) -> DocentError | None:
        """The error refusing this request before its body is read, else None."""
        host = headers.get("host")
        if not host_allowed(host, self.settings.allowed_hosts):
            return HostNotAllowed(host_name(host or ""))
        origin = headers.get("origin")
        if (
            scope["method"] in STATE_CHANGING
            and origin is not None
            and not origin_allowed(origin, self.settings.cors_origins, host)
        ):
            return CrossOriginRefused(origin)
        if self.settings.api_keys and self._needs_key(scope):
            try:
                check_api_key(headers.get("authorization"), self.settings.api_keys)
            except Unauthorized as refused:
                return refused
        full = self.uploads >= self.settings.max_concurrent_uploads
        if upload and full and self.waiting_uploads >= self.settings.max_queued_uploads:
            return Busy(
                f"Docent is busy: {self.uploads} uploads are being ingested and "
                f"{self.waiting_uploads} are waiting (limits DOCENT_MAX_UPLOADS="
                f"{self.settings.max_concurrent_uploads}, DOCENT_MAX_QUEUED_UPLOADS="
                f"{self.settings.max_queued_uploads}). Retry in a moment."
            )
        return None

    def _needs_key(self, scope: Scope) -> bool:
        path, method = scope["path"], scope["method"]
        for route in self.routes:
            if not isinstance(route, APIRoute) or not route.path_regex.match(path):
                continue
            methods = route.methods or set()
            if method in methods or (method == "HEAD" and "GET" in methods):
                return needs_key(route)
        return False

    def _too_large(self, upload: bool) -> str:
        if upload:
            return upload_limit_message(self.settings.max_upload_mb)
        return (
            f"Request body larger than {self.settings.max_body_kb} KB (DOCENT_MAX_BODY_KB). "
            "Send a smaller request (fewer messages, shorter texts)."
        )

    def _bounded(self, receive: Receive, limit: int, upload: bool) -> Receive:
        """``receive`` that counts the body against ``limit`` and its deadline.

        Raises (inside the app, so its error handlers answer): 413 over the limit, 408
        past the deadline. Once the body is complete, messages pass through untouched
        (a streaming response waits on ``receive`` for the client's disconnect).
        """
        deadline = asyncio.get_running_loop().time() + self.settings.body_timeout_s
        received = 0
        complete = False

        async def bounded() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, detail=self._too_slow()) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail=self._too_large(upload))
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return bounded

    def _too_slow(self) -> str:
        return (
            f"Request body not received within {self.settings.body_timeout_s:g} s "
            "(DOCENT_BODY_TIMEOUT_S). Send the whole body at once."
        )

    async def _answer(self, scope: Scope, error: DocentError, receive: Receive, send: Send) -> None:
        family = family_for_unmatched(self.routes, scope["path"])
        body = error_body(family, error.http_status, error.code, error.message)
        headers = {"Connection": "close"}  # the body, if any, is left unread
        if isinstance(error, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        response = JSONResponse(body, status_code=error.http_status, headers=headers)
        await response(scope, receive, send)
