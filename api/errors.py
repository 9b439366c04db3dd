"""Errors as HTTP answers, in the shape each door's clients expect.

- native API: ``{"error": {"code": ..., "message": ...}}`` (422 adds ``details``)
- Ollama facade (``/api/*``): ``{"error": "..."}``, as Ollama answers
- OpenAI endpoints (``/v1/chat/completions``, ``/v1/models``, ``/v1/embeddings``):
  ``{"error": {"message", "type", "param", "code"}}``

Unexpected exceptions are logged and answered with code ``internal_error``; their text
never reaches a client. API-only additions to the tree in :mod:`retrieval.errors`:

    DocentError
    ├── Unauthorized        401 unauthorized
    ├── PayloadTooLarge     413 payload_too_large
    └── ModelNotFound       404 model_not_found     (facades: unknown docent/<collection>)

An ``error`` event met while aggregating a stream is raised as
:class:`retrieval.answer.AnswerFailed` (its code, the status of that code).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrieval.answer import AnswerFailed
from retrieval.answer import status_for_code as status_for_code  # re-exported: one lookup
from retrieval.errors import DocentError
from retrieval.events import ErrorEvent

logger = logging.getLogger(__name__)

ErrorFamily = Literal["native", "ollama", "openai"]

INTERNAL_MESSAGE = "Docent hit an unexpected error; it has been logged. Try again or report it."


class Unauthorized(DocentError):
    code = "unauthorized"
    http_status = 401


class PayloadTooLarge(DocentError):
    code = "payload_too_large"
    http_status = 413


class ModelNotFound(DocentError):
    """A facade model name that names no collection, in Ollama's wording."""

    code = "model_not_found"
    http_status = 404

    def __init__(self, model: str) -> None:
        escaped = model.replace("\\", "\\\\").replace('"', '\\"')
        super().__init__(f'model "{escaped}" not found, try pulling it first')
        self.model = model


def error_from_event(event: ErrorEvent) -> AnswerFailed:
    """The exception to raise for an ``error`` event met while aggregating a stream."""
    return AnswerFailed(event.code, event.message, status_for_code(event.code))


def family_for_path(path: str) -> ErrorFamily:
    """Which error shape the clients of ``path`` understand."""
    if path.startswith("/api/"):
        return "ollama"
    if path.startswith(("/v1/chat/", "/v1/models", "/v1/completions", "/v1/embeddings")):
        return "openai"
    return "native"


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
    family = family_for_path(request.url.path)
    body = error_body(family, status, code, message, details=details)
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


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error path=%s", request.url.path, exc_info=exc)
    return error_response(request, 500, "internal_error", INTERNAL_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one handler per kind of error."""
    app.add_exception_handler(DocentError, docent_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
