"""Grounded answers: ``POST /v1/query``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.auth import require_api_key
from api.deps import ServicesDep
from api.generation import start_generation
from api.schemas import AnswerPublic, QueryCreate, error_responses
from api.streaming import NDJSON, SSE, ndjson_stream, sse_stream
from retrieval.answer import AskRequest

router = APIRouter(tags=["answers"], dependencies=[Depends(require_api_key)])

_STREAM_DOC = {
    "description": "The answer: NDJSON events (`sources`, `delta`..., `done` or `error`), "
    "SSE when `Accept: text/event-stream`, or one JSON object when `stream` is false.",
    "content": {NDJSON: {}, SSE: {}},
}


def ask_request(body: QueryCreate) -> AskRequest:
    """The retrieval core's request for a native query."""
    return AskRequest(
        question=body.question,
        collection=body.collection,
        k=body.k,
        mode=body.mode,
        filters=body.filters,
        options=body.options.to_chat_options() if body.options else None,
        system=body.system,
    )


def wants_sse(request: Request) -> bool:
    """True when the client asked for Server-Sent Events."""
    return SSE in request.headers.get("accept", "").lower()


@router.post(
    "/v1/query",
    response_model=AnswerPublic,
    responses={200: _STREAM_DOC, **error_responses(400, 401, 404, 409, 422, 502, 503)},
)
async def query(body: QueryCreate, request: Request, services: ServicesDep) -> Response:
    """Answer a question from a collection's documents, with numbered sources."""
    generation = await start_generation(
        services.limiter, services.answerer, services.metrics, ask_request(body)
    )
    if not body.stream:
        sources, done = await generation.collect(request)
        answer = AnswerPublic(sources=sources, **done.model_dump(exclude={"type"}))
        return JSONResponse(answer.model_dump(mode="json"))
    if wants_sse(request):
        return generation.response(sse_stream(generation.events()), SSE)
    return generation.response(ndjson_stream(generation.events()), NDJSON)
