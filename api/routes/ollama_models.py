"""The rest of Ollama's model API: ``/api/ps``, ``/api/pull``, ``/api/delete``, ``/api/embeddings``.

Decisions (documented in the README):

- ``ps`` lists every collection as a running model (they are always ready).
- ``pull`` of an existing ``docent/<c>`` streams success (nothing to download); any other
  name is refused with 400 and the ``ollama pull`` command to run against Ollama itself:
  Docent never makes its upstream download models on a client's behalf.
- ``delete`` never removes a collection: it answers 403 with the native call that does
  (``DELETE /v1/collections/<c>``), so a client's "delete model" cannot erase an index.
- ``embeddings`` (legacy) is the upstream ``/api/embed`` in the legacy shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.auth import require_api_key
from api.deps import ServicesDep
from api.embeddings import embed_payload, upstream_embed
from api.facade import collection_of
from api.ollama_models_schemas import (
    OllamaLegacyEmbedding,
    OllamaLegacyEmbedRequest,
    OllamaModelRequest,
    OllamaRunning,
    OllamaRunningModel,
    OllamaStatus,
)
from api.ollama_route import OllamaRoute
from api.ollama_schemas import OLLAMA_ERRORS
from api.routes.ollama_compat import _collection_info, _tags
from api.streaming import NDJSON, STREAM_HEADERS
from retrieval.errors import DocentError, InvalidRequest

router = APIRouter(
    tags=["ollama"],
    dependencies=[Depends(require_api_key)],
    route_class=OllamaRoute,
    responses=OLLAMA_ERRORS,
)

LOADED_UNTIL = "2262-04-11T23:47:16Z"
"""``expires_at`` of a collection in ``/api/ps``: Ollama's "forever" (never unloaded)."""


class PullRefused(DocentError):
    """``/api/pull`` of a name that is not a Docent model."""

    code = "pull_refused"
    http_status = 400

    def __init__(self, model: str) -> None:
        super().__init__(
            f"Docent serves its collections as models (docent/<collection>) and pulls nothing "
            f'else. Pull "{model[:100]}" into Ollama itself: `ollama pull {model[:100]}` '
            "(`docent doctor --pull` pulls the models Docent is configured with)."
        )


class DeleteRefused(DocentError):
    """``/api/delete`` of a collection: refused, so no client deletes an index by accident."""

    code = "delete_refused"
    http_status = 403

    def __init__(self, model: str, collection: str) -> None:
        super().__init__(
            f'Docent does not delete "{model[:100]}" through the Ollama API: that would erase '
            f"the indexed documents of collection {collection!r}. To really delete it, call "
            f"DELETE /v1/collections/{collection} (Docent's native API)."
        )


@router.get("/api/ps")
async def running(services: ServicesDep) -> OllamaRunning:
    """Every collection as a loaded model (``docent/<collection>:latest``)."""
    tags = await asyncio.to_thread(_tags, services)
    return OllamaRunning(
        models=[
            OllamaRunningModel(
                name=tag.name,
                model=tag.model,
                size=tag.size,
                digest=tag.digest,
                details=tag.details,
                expires_at=LOADED_UNTIL,
                size_vram=0,
            )
            for tag in tags.models
        ]
    )


async def _pull_stream() -> AsyncIterator[bytes]:
    for status in ("pulling manifest", "success"):
        yield OllamaStatus(status=status).model_dump_json().encode() + b"\n"


@router.post("/api/pull", response_model=OllamaStatus)
async def pull(body: OllamaModelRequest, services: ServicesDep) -> Response:
    """Success for an existing ``docent/<collection>`` (nothing to download); 400 otherwise."""
    model = body.model_or_name()
    if collection_of(model) is None:
        raise PullRefused(model)
    await _collection_info(services, model)
    if not body.stream:
        return JSONResponse(OllamaStatus(status="success").model_dump())
    return StreamingResponse(_pull_stream(), media_type=NDJSON, headers=STREAM_HEADERS)


@router.delete("/api/delete")
async def delete(body: OllamaModelRequest, services: ServicesDep) -> Response:
    """Refused (403) for a collection, so no client erases an index by accident."""
    model = body.model_or_name()
    info = await _collection_info(services, model)
    raise DeleteRefused(model, info.name)


@router.post("/api/embeddings")
async def embeddings(
    body: OllamaLegacyEmbedRequest, services: ServicesDep
) -> OllamaLegacyEmbedding:
    """Ollama's legacy embeddings: one ``prompt`` in, one ``embedding`` out."""
    if not body.prompt:
        return OllamaLegacyEmbedding(embedding=[])
    if collection_of(body.model) is not None:
        raise InvalidRequest(
            f'"{body.model[:100]}" is a Docent chat model; embed with an embedding model such '
            f'as "{services.settings.ollama.embed_model}".'
        )
    payload = embed_payload(services.settings.ollama, body.model, body.prompt)
    answer = await upstream_embed(services.ollama_http, services.settings.ollama.base_url, payload)
    vectors = answer.get("embeddings") or [[]]
    return OllamaLegacyEmbedding(embedding=vectors[0])
