"""OpenAI's ``POST /v1/embeddings``, computed by the upstream Ollama's ``/api/embed``.

``encoding_format: "base64"`` (what the ``openai`` SDK asks for by default) returns each
vector as little-endian float32 bytes in base64, as OpenAI does.
"""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_api_key
from api.deps import ServicesDep
from api.embeddings import embed_payload, upstream_embed
from api.errors import OpenAIRoute
from api.facade import collection_of
from api.openai_schemas import OPENAI_ERRORS
from retrieval.errors import InvalidRequest

router = APIRouter(
    tags=["openai"],
    dependencies=[Depends(require_api_key)],
    route_class=OpenAIRoute,
    responses=OPENAI_ERRORS,
)


class EmbeddingCreate(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="An embedding model of the upstream Ollama.")
    input: str | list[str] = Field(description="A text or a list of texts (token arrays: no).")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, description="Passed to Ollama.")


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str
    index: int


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


def _encode(vector: list[float], encoding: Literal["float", "base64"]) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


@router.post("/v1/embeddings")
async def create_embeddings(
    body: EmbeddingCreate, services: ServicesDep
) -> CreateEmbeddingResponse:
    """Embeddings of ``input``, in OpenAI's shape."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not text for text in texts):
        raise InvalidRequest("Expected input to be a non-empty string or non-empty strings.")
    if collection_of(body.model) is not None:
        raise InvalidRequest(
            f'"{body.model[:100]}" is a Docent chat model; embed with an embedding model such '
            f'as "{services.settings.ollama.embed_model}".'
        )
    payload = embed_payload(
        services.settings.ollama, body.model, texts, dimensions=body.dimensions, openai=True
    )
    answer = await upstream_embed(services.ollama_http, services.settings.ollama.base_url, payload)
    vectors: list[list[float]] = answer.get("embeddings") or []
    tokens = int(answer.get("prompt_eval_count") or 0)
    return CreateEmbeddingResponse(
        data=[
            Embedding(embedding=_encode(vector, body.encoding_format), index=i)
            for i, vector in enumerate(vectors)
        ],
        model=body.model,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
