"""One router per area; :data:`ROUTERS` in the order the app includes them."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    collections,
    documents,
    health,
    jobs,
    metrics,
    ollama_compat,
    ollama_models,
    openai_compat,
    openai_embeddings,
    query,
    search,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    metrics.router,
    query.router,
    search.router,
    collections.router,
    documents.router,
    jobs.router,
    ollama_compat.router,
    ollama_compat.open_router,
    ollama_models.router,
    openai_compat.router,
    openai_embeddings.router,
)
