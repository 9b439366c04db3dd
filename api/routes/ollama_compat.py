"""The Ollama-compatible facade: point any Ollama client at Docent, get grounded answers.

Each collection ``<c>`` is the model ``docent/<c>`` (listed as ``docent/<c>:latest``).
``/api/chat`` and ``/api/generate`` stream Ollama's NDJSON with a "Sources:" footer
(off with ``DOCENT_SOURCES_FOOTER=false`` or ``options.docent_sources: false``);
``/api/embed`` is passed through to the upstream Ollama.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.auth import require_api_key
from api.deps import ServicesDep
from api.embeddings import embed_payload
from api.facade import (
    Conversation,
    collection_of,
    footer_enabled,
    model_name,
    ollama_options,
    split_conversation,
)
from api.generation import Generation
from api.ollama_requests import is_zero_keep_alive
from api.ollama_route import OllamaRoute
from api.ollama_schemas import (
    OLLAMA_ERRORS,
    OllamaChatRequest,
    OllamaChatResponse,
    OllamaGenerateRequest,
    OllamaGenerateResponse,
    OllamaModelDetails,
    OllamaShow,
    OllamaShowRequest,
    OllamaTag,
    OllamaTags,
    OllamaVersion,
)
from api.services import Services
from api.streaming import (
    NDJSON,
    OllamaKind,
    footer_for,
    ollama_final,
    ollama_part,
    ollama_stream,
)
from api.tasks import start_facade_answer
from retrieval.answer import AskRequest
from retrieval.errors import (
    CollectionNotFound,
    InvalidRequest,
    ModelNotFound,
    OllamaUnavailable,
    ToolsUnsupported,
)
from retrieval.store import CollectionInfo

OLLAMA_COMPAT_VERSION = "0.12.0"
"""The Ollama API version the facade reports (its shapes follow this release)."""

router = APIRouter(
    tags=["ollama"],
    dependencies=[Depends(require_api_key)],
    route_class=OllamaRoute,
    responses=OLLAMA_ERRORS,
)
open_router = APIRouter(tags=["ollama"], route_class=OllamaRoute)

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Ollama NDJSON stream, or one object when stream is false.",
        "content": {NDJSON: {}},
    }
}


@open_router.get("/", response_class=PlainTextResponse)
async def root() -> PlainTextResponse:
    """Ollama's liveness answer."""
    return PlainTextResponse("Ollama is running")


@open_router.head("/", include_in_schema=False)
async def root_head() -> PlainTextResponse:
    return PlainTextResponse("Ollama is running")


@router.get("/api/version")
async def version() -> OllamaVersion:
    """The Ollama API version the facade follows."""
    return OllamaVersion(version=OLLAMA_COMPAT_VERSION)


def _digest(info: CollectionInfo) -> str:
    return hashlib.sha256(f"{info.name}\0{info.embed_model}\0{info.dimension}".encode()).hexdigest()


def _modified_at(services: Services, name: str) -> str:
    records = services.store.list_documents(name)
    return max((r.ingested_at for r in records), default="1970-01-01T00:00:00+00:00")


def _tags(services: Services) -> OllamaTags:
    models = []
    for info in services.store.list_collections():
        name = f"{model_name(info.name)}:latest"
        models.append(
            OllamaTag(
                name=name,
                model=name,
                modified_at=_modified_at(services, info.name),
                size=0,
                digest=_digest(info),
                details=OllamaModelDetails(),
            )
        )
    return OllamaTags(models=models)


@router.get("/api/tags")
async def tags(services: ServicesDep) -> OllamaTags:
    """Every collection as a model ``docent/<collection>:latest``."""
    return await asyncio.to_thread(_tags, services)


async def _collection_info(services: Services, model: str) -> CollectionInfo:
    collection = collection_of(model)
    if collection is None:
        raise ModelNotFound(model)
    try:
        return await asyncio.to_thread(services.store.get_collection, collection)
    except CollectionNotFound as exc:
        raise ModelNotFound(model) from exc


@router.post("/api/show")
async def show(body: OllamaShowRequest, services: ServicesDep) -> OllamaShow:
    """Describe a collection as a model (family "docent", the chat model's context)."""
    model = body.model or body.name or ""
    info = await _collection_info(services, model)
    chat_info = await services.chat.info()
    return OllamaShow(
        details=OllamaModelDetails(),
        model_info={
            "general.architecture": "docent",
            "docent.context_length": chat_info.context_length,
            "docent.collection": info.name,
            "docent.chat_model": services.chat.model,
            "docent.embed_model": info.embed_model,
            "docent.embedding_length": info.dimension,
            "docent.chunk_count": info.chunk_count,
            "docent.document_count": info.document_count,
        },
        capabilities=["completion"],
        modified_at=await asyncio.to_thread(_modified_at, services, info.name),
    )


async def _generation(
    services: ServicesDep, model: str, conversation: Conversation, options: dict[str, Any] | None
) -> tuple[Generation, bool]:
    chat_options, sources_flag = ollama_options(options)
    collection = collection_of(model)
    if collection is None:
        raise ModelNotFound(model)
    request = AskRequest(
        question=conversation.question,
        collection=collection,
        options=chat_options,
        system=conversation.system,
        history=conversation.history,
    )
    try:
        generation, may_cite = await start_facade_answer(services, request, conversation)
    except CollectionNotFound as exc:
        raise ModelNotFound(model) from exc
    footer = footer_enabled(services.settings.api.sources_footer, sources_flag)
    return generation, may_cite and footer


async def _answer(
    services: Services,
    http: Request,
    model: str,
    kind: OllamaKind,
    conversation: Conversation,
    options: dict[str, Any] | None,
    stream: bool,
    keep_alive: int | float | str | None = None,
) -> Response:
    if not conversation.question.strip():
        # Ollama answers an empty prompt by loading the model (or, with keep_alive 0,
        # unloading it): done, nothing generated. Docent's models stay loaded.
        await _collection_info(services, model)
        final = ollama_part(model, kind, "")
        final.update(done=True, done_reason="unload" if is_zero_keep_alive(keep_alive) else "load")
        return JSONResponse(final)
    generation, footer = await _generation(services, model, conversation, options)
    if stream:
        body = ollama_stream(generation.events(), model=model, kind=kind, footer=footer)
        return generation.response(body, NDJSON)
    sources, done = await generation.collect(http)
    text = done.answer + footer_for(done, sources, footer)
    return JSONResponse(ollama_final(model, kind, done, text))


@router.post("/api/chat", response_model=OllamaChatResponse, responses=_STREAM_DOC)
async def chat(body: OllamaChatRequest, http: Request, services: ServicesDep) -> Response:
    """A grounded answer to the last user message, in Ollama's chat shape."""
    if body.tools:
        raise ToolsUnsupported(body.model)
    conversation = split_conversation([(m.role, m.content) for m in body.messages])
    return await _answer(
        services, http, body.model, "chat", conversation, body.options, body.stream, body.keep_alive
    )


@router.post("/api/generate", response_model=OllamaGenerateResponse, responses=_STREAM_DOC)
async def generate(body: OllamaGenerateRequest, http: Request, services: ServicesDep) -> Response:
    """A grounded answer to the prompt, in Ollama's generate shape."""
    conversation = Conversation(question=body.prompt, history=(), system=body.system)
    return await _answer(
        services,
        http,
        body.model,
        "generate",
        conversation,
        body.options,
        body.stream,
        body.keep_alive,
    )


@router.post("/api/embed")
async def embed(
    services: ServicesDep, body: dict[str, Any] = Body(description="Ollama's /api/embed body.")
) -> Response:
    """Ollama's ``/api/embed`` with Docent's embedding model, limits and keep_alive.

    The upstream's answer (status included) comes back as is; ``options`` and
    ``keep_alive`` of the request are not passed on (:func:`api.embeddings.embed_payload`).
    """
    model, texts = body.get("model"), body.get("input")
    truncate, dimensions = body.get("truncate", True), body.get("dimensions")
    if not isinstance(model, str) or not isinstance(texts, str | list):
        raise InvalidRequest("Expected a model name and input as a string or list of strings.")
    if not isinstance(truncate, bool) or not (
        dimensions is None or (isinstance(dimensions, int) and not isinstance(dimensions, bool))
    ):
        raise InvalidRequest("Expected truncate as true or false and dimensions as an integer.")
    payload = embed_payload(
        services.settings.ollama, model, texts, dimensions=dimensions, truncate=truncate
    )
    try:
        upstream = await services.ollama_http.post("/api/embed", json=payload)
    except httpx.HTTPError as exc:
        raise OllamaUnavailable.at(services.settings.ollama.base_url) from exc
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        media_type=upstream.headers.get("content-type", "application/json"),
    )
