"""Fixtures of the API tests: the app over a runtime of fakes (FakeEmbedder, ScriptedChat, a
real in-memory Chroma, the real ingestion pipeline in-process, a fake upstream Ollama over
``httpx.MockTransport``), and an httpx client over ASGI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.services import Services
from ingest.reading import InProcessReader
from ingest.runtime import Runtime
from retrieval.ollama_client import OllamaAdmin
from retrieval.settings import (
    ApiSettings,
    ChromaSettings,
    OllamaSettings,
    RetrievalSettings,
    Settings,
)
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder, ScriptedChat, hash_vector
from tests.stores import Doc, fill_store

COLLECTION = "docs"
DOCS = [
    Doc(
        "support.md", "The customer support line is open Monday to Friday from 08:00 to 17:00 CET."
    ),
    Doc("warranty.md", "The Acme kettle has a two year warranty covering the heating element."),
    Doc("returns.pdf", "Returns are accepted within 30 days with the original receipt.", page=2),
]
QUESTION = "When is the customer support line open?"


@dataclass
class FakeUpstream:
    """A fake Ollama for readiness and the /api/embed pass-through."""

    models: list[str] = field(default_factory=lambda: ["fake-embed:latest", "scripted:latest"])
    down: bool = False
    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/api/tags":
            return httpx.Response(
                200, json={"models": [{"name": m, "model": m} for m in self.models]}
            )
        if request.url.path == "/api/embed":
            body = json.loads(request.content)
            model = body.get("model", "")
            if not isinstance(model, str) or not isinstance(body.get("input"), str | list):
                return httpx.Response(400, json={"error": "invalid input type"})
            if f"{model}:latest" not in self.models and model not in self.models:
                error = f'model "{model}" not found, try pulling it first'
                return httpx.Response(404, json={"error": error})
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = [hash_vector(str(text), 32) for text in inputs]
            return httpx.Response(200, json={"model": model, "embeddings": vectors})
        return httpx.Response(404, json={"error": "not found"})


def make_settings(tmp_path: Path, **api: object) -> Settings:
    return Settings(
        ollama=OllamaSettings(host="127.0.0.1:9", embed_model="fake-embed", chat_model="scripted"),
        chroma=ChromaSettings(path=tmp_path / "chroma"),
        retrieval=RetrievalSettings(mode="dense", k=3),
        api=ApiSettings(**api),  # type: ignore[arg-type]
    )


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def chat() -> ScriptedChat:
    return ScriptedChat(context_length=2048)


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def api_settings() -> dict[str, object]:
    """Overrides of ``settings.api`` for a test module (parametrize indirectly or override)."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, api_settings: dict[str, object]) -> Settings:
    return make_settings(tmp_path, **api_settings)


def fake_runtime(
    settings: Settings,
    store: ChunkStore,
    embedder: FakeEmbedder,
    chat: ScriptedChat,
    upstream: FakeUpstream,
) -> Runtime:
    """A runtime of fakes: files read in-process, Ollama answered by ``upstream``."""
    ollama = OllamaAdmin("http://ollama.test", transport=httpx.MockTransport(upstream.handler))
    return Runtime(
        settings, store=store, embedder=embedder, chat=chat, ollama=ollama, reader=InProcessReader()
    )


@pytest.fixture
async def services(
    settings: Settings, embedder: FakeEmbedder, chat: ScriptedChat, upstream: FakeUpstream
) -> AsyncIterator[Services]:
    store = ChunkStore.ephemeral()
    await fill_store(store, COLLECTION, DOCS, embedder)
    runtime = fake_runtime(settings, store, embedder, chat, upstream)
    yield Services.from_runtime(runtime)
    await runtime.ollama.aclose()
    await runtime.aclose()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http
