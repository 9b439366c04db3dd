"""The one place routes get their collaborators: ``Annotated`` dependency aliases.

Nothing is built here: everything comes from the :class:`~api.services.Services` the
lifespan put on ``app.state`` (the composition root's parts, plus limiter and metrics).
Tests swap them with ``create_app(services=...)`` or ``app.dependency_overrides``.

They are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a
thread hop per dependency per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from api.limiter import GenerationLimiter
from api.metrics import Metrics
from api.services import Services
from api.uploads import UploadIngestor
from ingest.jobs import JobRunner
from retrieval.answer import Answerer
from retrieval.ollama_client import OllamaAdmin
from retrieval.search import Searcher
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.types import ChatModel, Embedder


async def get_services(request: Request) -> Services:
    """The services of the app serving ``request``."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


async def get_store(services: ServicesDep) -> ChunkStore:
    return services.store


async def get_embedder(services: ServicesDep) -> Embedder:
    return services.embedder


async def get_chat(services: ServicesDep) -> ChatModel:
    return services.chat


async def get_searcher(services: ServicesDep) -> Searcher:
    return services.searcher


async def get_answerer(services: ServicesDep) -> Answerer:
    return services.answerer


async def get_ingestor(services: ServicesDep) -> UploadIngestor:
    return services.ingest


async def get_jobs(services: ServicesDep) -> JobRunner:
    return services.jobs


async def get_ollama(services: ServicesDep) -> OllamaAdmin:
    return services.ollama


async def get_ollama_http(services: ServicesDep) -> httpx.AsyncClient:
    return services.ollama_http


async def get_limiter(services: ServicesDep) -> GenerationLimiter:
    return services.limiter


async def get_metrics(services: ServicesDep) -> Metrics:
    return services.metrics


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[ChunkStore, Depends(get_store)]
EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
ChatDep = Annotated[ChatModel, Depends(get_chat)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
IngestorDep = Annotated[UploadIngestor, Depends(get_ingestor)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
OllamaDep = Annotated[OllamaAdmin, Depends(get_ollama)]
OllamaHttpDep = Annotated[httpx.AsyncClient, Depends(get_ollama_http)]
LimiterDep = Annotated[GenerationLimiter, Depends(get_limiter)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
