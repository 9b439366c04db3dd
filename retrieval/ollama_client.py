"""Building ``ollama`` clients and turning their failures into Docent errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import ollama

from retrieval.errors import OllamaFailed, OllamaModelMissing, OllamaUnavailable
from retrieval.types import ModelInfo


def make_async_client(url: str, timeout: float) -> ollama.AsyncClient:
    """An ``ollama.AsyncClient`` for ``url`` (already normalised, see settings)."""
    return ollama.AsyncClient(host=url, timeout=timeout)


def make_client(url: str, timeout: float) -> ollama.Client:
    """A sync ``ollama.Client`` for ``url``."""
    return ollama.Client(host=url, timeout=timeout)


@contextmanager
def ollama_errors(url: str, model: str | None = None) -> Iterator[None]:
    """Translate connection errors and Ollama's error answers into Docent errors."""
    try:
        yield
    except ollama.ResponseError as exc:
        if exc.status_code == 404 and model is not None:
            raise OllamaModelMissing(model, url) from exc
        raise OllamaFailed(f"Ollama at {url} answered {exc.status_code}: {exc.error}") from exc
    except (httpx.ConnectError, httpx.TimeoutException, ConnectionError) as exc:
        raise OllamaUnavailable.at(url) from exc


def is_retryable(exc: BaseException) -> bool:
    """True for failures worth retrying: no connection, timeouts, 5xx (503 busy included)."""
    if isinstance(exc, OllamaUnavailable):
        return True
    cause = exc.__cause__
    if isinstance(cause, ollama.ResponseError):
        return cause.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def model_info_from_show(name: str, show: Any) -> ModelInfo:
    """Read context and embedding lengths from an ``/api/show`` answer."""
    info: dict[str, Any] = dict(getattr(show, "modelinfo", None) or {})
    arch = str(info.get("general.architecture", ""))
    context = info.get(f"{arch}.context_length")
    embedding = info.get(f"{arch}.embedding_length")
    details = getattr(show, "details", None)
    return ModelInfo(
        name=name,
        context_length=int(context) if context else None,
        embedding_length=int(embedding) if embedding else None,
        family=getattr(details, "family", None),
    )
