"""Embeddings for the compatibility doors, computed by the upstream Ollama's ``/api/embed``.

``/api/embed`` is passed through as is; the legacy ``/api/embeddings`` and OpenAI's
``/v1/embeddings`` are translated to it here, so every door embeds with the same models
Ollama serves (Docent's configured embedding model among them).
"""

from __future__ import annotations

from typing import Any

import httpx

from retrieval.errors import DocentError, OllamaUnavailable


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
