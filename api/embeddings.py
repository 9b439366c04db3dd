"""Embeddings for the compatibility doors, computed by the upstream Ollama's ``/api/embed``.

Ollama's ``/api/embed``, the legacy ``/api/embeddings`` and OpenAI's ``/v1/embeddings``
all build their upstream request with :func:`embed_payload`, the one place that decides
what reaches Ollama: only Docent's configured embedding model (``DOCENT_EMBED_MODEL``),
at most :data:`MAX_EMBED_INPUTS` texts, Docent's own ``keep_alive``, and no client
``options`` (so a client cannot raise ``num_ctx`` or pin other models in memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from retrieval.errors import DocentError, InvalidRequest, ModelNotFound, OllamaUnavailable
from retrieval.settings import OllamaSettings

MAX_EMBED_INPUTS = 256
"""Most texts one embedding request may carry."""
LATEST = ":latest"


class UpstreamEmbedFailed(DocentError):
    """The upstream Ollama refused an embedding request; its status and message are kept."""

    code = "embedding_failed"
    http_status = 502

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        if status == 404:
            self.code = "model_not_found"
        elif 400 <= status < 500:
            self.code = "invalid_request"


def _upstream_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"The upstream Ollama answered {response.status_code} to /api/embed."


def _base_name(model: str) -> str:
    name = model.strip()
    return name[: -len(LATEST)] if name.endswith(LATEST) else name


def embed_payload(
    settings: OllamaSettings,
    model: str,
    texts: str | Sequence[str],
    *,
    dimensions: int | None = None,
    truncate: bool = True,
    openai: bool = False,
) -> dict[str, Any]:
    """The upstream ``/api/embed`` body for a client's request, within Docent's limits.

    Args:
        settings: the ``ollama`` settings (embedding model, keep_alive).
        model: the model the client asked for; must name the configured embedding model
            (``name`` or ``name:latest``).
        texts: one text or a list of texts.
        dimensions: passed on when set (models that support it shorten their vectors).
        truncate: passed on (Ollama's default, true, cuts inputs at the context length).
        openai: word a refused model for the OpenAI door (else as Ollama does).

    Raises:
        ModelNotFound: another model than the configured embedding model.
        InvalidRequest: more than :data:`MAX_EMBED_INPUTS` texts, or a text not a string.
    """
    if _base_name(model) != _base_name(settings.embed_model):
        message = None  # Ollama's own wording, which its clients recognise
        if openai:
            message = (
                f"The model `{model[:100]}` is not available for embeddings: Docent embeds "
                f"with its configured model `{settings.embed_model}` (DOCENT_EMBED_MODEL)."
            )
        raise ModelNotFound(model, message)
    items = [texts] if isinstance(texts, str) else list(texts)
    if len(items) > MAX_EMBED_INPUTS:
        raise InvalidRequest(
            f"Expected at most {MAX_EMBED_INPUTS} inputs in one embedding request, got "
            f"{len(items)}. Split them over several requests."
        )
    if not all(isinstance(item, str) for item in items):
        raise InvalidRequest("Expected input to be a string or a list of strings.")
    payload: dict[str, Any] = {
        "model": settings.embed_model,
        "input": texts if isinstance(texts, str) else items,
        "truncate": truncate,
        "keep_alive": settings.keep_alive,
    }
    if dimensions is not None:
        payload["dimensions"] = dimensions
    return payload


async def upstream_embed(
    http: httpx.AsyncClient, base_url: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """POST ``payload`` to the upstream ``/api/embed``; its JSON answer.

    Raises:
        OllamaUnavailable: the upstream cannot be reached.
        UpstreamEmbedFailed: it answered an error (its status and message).
    """
    try:
        response = await http.post("/api/embed", json=payload)
    except httpx.HTTPError as exc:
        raise OllamaUnavailable.at(base_url) from exc
    if response.status_code != 200:
        raise UpstreamEmbedFailed(response.status_code, _upstream_message(response))
    body: dict[str, Any] = response.json()
    return body
