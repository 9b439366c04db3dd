"""Errors as HTTP answers, in the shape each door's clients expect.

- native API: ``{"error": {"code": ..., "message": ...}}`` (422 adds ``details``)
- Ollama facade: ``{"error": "..."}``, as Ollama answers
- OpenAI endpoints: ``{"error": {"message", "type", "param", "code"}}``

Each door picks its shape where its routes are declared: its router is built with
``route_class=OllamaRoute`` (:mod:`api.ollama_route`) / ``OpenAIRoute`` (native routes
need nothing). The route
marks the request, and the app's one handler per kind of error reads the mark. A request
no route took (404, 405) gets the shape of the routes it comes closest to (see
:func:`family_for_unmatched`).

Codes and statuses come from the one registry, :data:`retrieval.errors.REGISTRY`.
Unexpected exceptions are logged and answered with code ``internal_error``; their text
never reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ClassVar, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute

from retrieval.errors import DocentError, ModelNotFound, PayloadTooLarge, Unauthorized

__all__ = [  # the API's error classes live in retrieval.errors, with every other code
    "ModelNotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "error_body",
    "error_response",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)

ErrorFamily = Literal["native", "ollama", "openai"]
FAMILY_SCOPE_KEY = "docent.error_family"
"""Where a route records, in the ASGI scope, the error shape of its door."""

INTERNAL_MESSAGE = "Docent hit an unexpected error; it has been logged. Try again or report it."

RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]


class NativeRoute(APIRoute):
    """A route whose errors take the native shape (the default for any ``APIRoute``)."""

    error_family: ClassVar[ErrorFamily] = "native"

    def get_route_handler(self) -> RouteHandler:
        handler = super().get_route_handler()
        family = self.error_family

        async def marked(request: Request) -> Response:
            request.scope[FAMILY_SCOPE_KEY] = family
            return await handler(request)

        return marked


class OpenAIRoute(NativeRoute):
    """A route of the OpenAI-compatible endpoints: errors as OpenAI's error object."""

    error_family = "openai"


def route_family(route: object) -> ErrorFamily:
    """The error shape a route declared (native for a plain ``APIRoute``)."""
    return route.error_family if isinstance(route, NativeRoute) else "native"


def _first_segment(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


def family_for_unmatched(routes: Sequence[BaseRoute], path: str) -> ErrorFamily:
    """The error shape for a request to ``path`` that no route took.

    A route with this path (so the method was wrong: 405) decides; otherwise the routes
    sharing the first path segment decide when they all agree (``/api/...`` is the Ollama
    facade's); otherwise native.

    Args:
        routes: the app's routes (:data:`api.routes.ROUTERS`' routes).
        path: the request path.
    """
    nearby: set[ErrorFamily] = set()
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        if route.path_regex.match(path):
            return route_family(route)
        if _first_segment(route.path) == _first_segment(path):
            nearby.add(route_family(route))
    return nearby.pop() if len(nearby) == 1 else "native"


def family_of(request: Request) -> ErrorFamily:
    """The error shape for ``request``: its route's, else the nearest routes'."""
    family: ErrorFamily | None = request.scope.get(FAMILY_SCOPE_KEY)
    if family is not None:
        return family
    routes: Sequence[BaseRoute] = getattr(request.app.state, "error_routes", ())
    return family_for_unmatched(routes, request.url.path)


def _openai_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_body(
    family: ErrorFamily,
    status: int,
    code: str,
    message: str,
    *,
    details: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON body of an error for one family of clients."""
    if family == "ollama":
        return {"error": message}
    if family == "openai":
        param = None
        if code == "model_not_found":
            param = "model"
        elif details:
            param = str(details[0]["loc"]).removeprefix("body.")
        return {
            "error": {
                "message": message,
                "type": _openai_type(status),
                "param": param,
                "code": code,
            }
        }
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = list(details)
    return {"error": error}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    details: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error answer shaped for the door ``request`` came in by."""
    body = error_body(family_of(request), status, code, message, details=details)
    return JSONResponse(body, status_code=status, headers=headers)


def _location(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Field paths and messages of a validation error (never the rejected input)."""
    return [
        {
            "loc": _location(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


async def docent_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocentError)
    logger.info("request failed path=%s code=%s", request.url.path, exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(request, exc.http_status, exc.code, exc.message, headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc)
    shown = "; ".join(f"{d['loc']}: {d['message']}" for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    message = f"Invalid request: {shown}{more}. Fix these fields and send it again."
    return error_response(request, 422, "validation_error", message, details=details)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"No such endpoint: {request.method} {request.url.path}. See /docs."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}. See /docs."
    else:
        message = str(exc.detail)
    return error_response(request, exc.status_code, code, message, headers=dict(exc.headers or {}))


CLIENT_CLOSED = 499
"""The status logged for a request whose client left before its answer (nginx's code)."""


async def client_disconnect_handler(request: Request, exc: Exception) -> Response:
    logger.info("client went away path=%s", request.url.path)
    return Response(status_code=CLIENT_CLOSED)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error path=%s", request.url.path, exc_info=exc)
    return error_response(request, 500, "internal_error", INTERNAL_MESSAGE)


def install_error_handlers(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Register the one handler per kind of error.

    Args:
        app: the app.
        routes: its routes, whose declared shapes also serve requests no route took.
    """
    app.state.error_routes = list(routes)
    app.add_exception_handler(DocentError, docent_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(ClientDisconnect, client_disconnect_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
