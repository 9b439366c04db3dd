"""The one way Docent talks to Ollama: ``ollama`` clients, their errors as Docent errors.

The embedder and the chat model (``retrieval.embedder``, ``retrieval.chat``) use
:func:`make_async_client`; readiness (``docent doctor``, ``/readyz``) and pulls use
:class:`OllamaAdmin`, which also holds the raw HTTP client of the ``/api/embed``
pass-through (a proxy must forward Ollama's bytes and status as they are).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from retrieval.errors import OllamaFailed, OllamaModelMissing, OllamaUnavailable
from retrieval.tls import client_verify
from retrieval.types import ModelInfo

PROBE_TIMEOUT_SECONDS = 10.0
"""Longest wait for a readiness answer (``/api/tags``)."""
PULL_TIMEOUT_SECONDS = 3600.0


def make_async_client(
    url: str, timeout: float, *, transport: httpx.AsyncBaseTransport | None = None
) -> ollama.AsyncClient:
    """An ``ollama.AsyncClient`` for ``url`` (already normalised, see settings).

    For an ``http://`` URL no TLS certificates are read unless TLS is spoken (see
    :mod:`retrieval.tls`): a client is cheap to build.

    Args:
        url: Ollama's base URL.
        timeout: seconds for connecting and for each read.
        transport: an httpx transport instead of the network (tests: ``MockTransport``).
    """
    return ollama.AsyncClient(
        host=url, timeout=timeout, transport=transport, verify=client_verify(url)
    )


def normalise_model_name(name: str) -> str:
    """``llama3.2`` and ``llama3.2:latest`` are the same model to Ollama."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass(frozen=True)
class PullProgress:
    """One status line of ``/api/pull``."""

    status: str
    completed: int | None
    total: int | None


class OllamaAdmin:
    """Ollama's model management for one host: which models it has, pulling one.

    Args:
        url: Ollama's base URL.
        timeout: seconds to wait for an answer (pulls wait longer).
        transport: an httpx transport instead of the network (tests).

    Attributes:
        url: Ollama's base URL.
        http: a raw HTTP client for ``url`` (the ``/api/embed`` pass-through).
    """

    def __init__(
        self,
        url: str,
        timeout: float = PROBE_TIMEOUT_SECONDS,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._transport = transport
        self._client = make_async_client(url, timeout, transport=transport)
        self.http = httpx.AsyncClient(
            base_url=url, timeout=timeout, transport=transport, verify=client_verify(url)
        )

    async def models(self) -> set[str]:
        """The models Ollama has pulled (names normalised with their tag).

        Raises:
            OllamaUnavailable: Ollama does not answer.
            OllamaFailed: Ollama answered with an error.
        """
        with ollama_errors(self.url):
            listed = await self._client.list()
        return {normalise_model_name(m.model or "") for m in listed.models}

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Pull ``model`` through ``/api/pull``, yielding its progress.

        Raises:
            OllamaModelMissing: Ollama's registry has no such model.
            OllamaUnavailable, OllamaFailed: Ollama cannot pull it.
        """
        client = make_async_client(self.url, PULL_TIMEOUT_SECONDS, transport=self._transport)
        try:
            with ollama_errors(self.url, model):
                async for part in await client.pull(model, stream=True):
                    yield PullProgress(part.status or "", part.completed, part.total)
        finally:
            await client.close()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        await self._client.close()  # type: ignore[no-untyped-call]
        await self.http.aclose()


@contextmanager
def ollama_errors(url: str, model: str | None = None) -> Iterator[None]:
    """Translate connection errors and Ollama's error answers into Docent errors.

    Any transport failure counts as Ollama not answering, including a connection that
    breaks in the middle of a streamed answer (Ollama killed or restarted).
    """
    try:
        yield
    except ollama.ResponseError as exc:
        if exc.status_code == 404 and model is not None:
            raise OllamaModelMissing(model, url) from exc
        raise OllamaFailed(f"Ollama at {url} answered {exc.status_code}: {exc.error}") from exc
    except (httpx.TransportError, ConnectionError) as exc:
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
