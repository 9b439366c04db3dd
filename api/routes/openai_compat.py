"""OpenAI-compatible endpoints: the collection ``<c>`` is the model ``docent/<c>``.

``POST /v1/chat/completions`` streams OpenAI SSE chunks ending in ``data: [DONE]``
(``stream_options.include_usage`` adds a usage chunk), or answers one ``chat.completion``.
``"docent_sources": false`` (``extra_body`` in the ``openai`` SDK) drops the footer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.auth import require_api_key
from api.deps import ServicesDep
from api.errors import OpenAIRoute
from api.facade import collection_of, footer_enabled, model_name, openai_options, split_conversation
from api.openai_schemas import (
    OPENAI_ERRORS,
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionCreate,
    ChatCompletionMessage,
    CompletionUsage,
    OpenAIModel,
    OpenAIModels,
)
from api.streaming import SSE, footer_for, openai_finish_reason, openai_stream, openai_usage
from api.tasks import start_facade_answer
from retrieval.answer import AskRequest
from retrieval.errors import (
    CollectionNotFound,
    InvalidRequest,
    ModelNotFound,
    ToolsUnsupported,
)

router = APIRouter(
    tags=["openai"],
    dependencies=[Depends(require_api_key)],
    route_class=OpenAIRoute,
    responses=OPENAI_ERRORS,
)

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat.completion, or SSE chunks when stream is true.",
        "content": {SSE: {}},
    }
}


@router.get("/v1/models")
async def list_models(services: ServicesDep) -> OpenAIModels:
    """Every collection as a model ``docent/<collection>``."""
    infos = await asyncio.to_thread(services.store.list_collections)
    created = int(time.time())
    return OpenAIModels(data=[OpenAIModel(id=model_name(i.name), created=created) for i in infos])


@router.get("/v1/models/{model:path}")
async def get_model(model: str, services: ServicesDep) -> OpenAIModel:
    """One model (``docent/<collection>``)."""
    collection = collection_of(model)
    if collection is None:
        raise ModelNotFound.openai(model)
    try:
        await asyncio.to_thread(services.store.collection_id, collection)  # exists? no count
    except CollectionNotFound as exc:
        raise ModelNotFound.openai(model) from exc
    return OpenAIModel(id=model_name(collection), created=int(time.time()))


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=_STREAM_DOC)
async def chat_completions(
    body: ChatCompletionCreate, http: Request, services: ServicesDep
) -> Response:
    """A grounded answer to the last user message, as an OpenAI chat completion."""
    collection = collection_of(body.model)
    if collection is None:
        raise ModelNotFound.openai(body.model)
    if (body.model_extra or {}).get("tools"):
        raise ToolsUnsupported(body.model)
    conversation = split_conversation([(m.role, m.text()) for m in body.messages])
    if not conversation.question.strip():
        raise InvalidRequest("Expected a non-empty user message in messages; got none.")
    request = AskRequest(
        question=conversation.question,
        collection=collection,
        options=openai_options(
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
            max_tokens=body.max_completion_tokens or body.max_tokens,
            stop=body.stop,
        ),
        system=conversation.system,
        history=conversation.history,
    )
    try:
        generation, may_cite = await start_facade_answer(services, request, conversation)
    except CollectionNotFound as exc:
        raise ModelNotFound.openai(body.model) from exc
    footer = may_cite and footer_enabled(services.settings.api.sources_footer, body.docent_sources)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = openai_stream(
            generation.events(),
            completion_id=completion_id,
            model=body.model,
            include_usage=include_usage,
            footer=footer,
        )
        return generation.response(stream, SSE)
    sources, done = await generation.collect(http)
    completion = ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=body.model,
        choices=[
            ChatCompletionChoice(
                message=ChatCompletionMessage(
                    content=done.answer + footer_for(done, sources, footer)
                ),
                finish_reason=openai_finish_reason(done),
            )
        ],
        usage=CompletionUsage(**openai_usage(done)),
    )
    return JSONResponse(completion.model_dump(mode="json"))
