"""/api/ps, /api/pull, /api/delete and the legacy /api/embeddings, over ASGI."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from api.ollama_models_schemas import OllamaLegacyEmbedding, OllamaRunning, OllamaStatus
from api.services import Services
from tests.api.conftest import COLLECTION, FakeUpstream
from tests.fakes import hash_vector

MODEL = f"docent/{COLLECTION}"


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


async def test_ps_lists_every_collection_as_loaded(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/ps")
    assert response.status_code == 200
    running = OllamaRunning.model_validate(response.json())
    assert [m.name for m in running.models] == [f"{MODEL}:latest"]
    tags = (await client.get("/api/tags")).json()["models"]
    assert running.models[0].digest == tags[0]["digest"]
    assert running.models[0].expires_at.startswith("2262-")


@pytest.mark.parametrize("name", [MODEL, f"{MODEL}:latest"])
async def test_pull_of_a_collection_streams_success(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/api/pull", json={"model": name})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    statuses = [OllamaStatus.model_validate(part).status for part in lines(response)]
    assert statuses[-1] == "success"
    once = await client.post("/api/pull", json={"name": name, "stream": False})
    assert once.json() == {"status": "success"}


async def test_pull_of_another_model_is_refused_with_the_command(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    response = await client.post("/api/pull", json={"model": "llama3.2"})
    assert response.status_code == 400
    assert "`ollama pull llama3.2`" in response.json()["error"]
    assert not any(r.url.path == "/api/pull" for r in upstream.requests)


async def test_pull_of_a_missing_collection_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/pull", json={"model": "docent/ghost"})
    assert response.status_code == 404
    assert response.json() == {"error": 'model "docent/ghost" not found, try pulling it first'}


async def test_delete_never_removes_a_collection(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await client.request("DELETE", "/api/delete", json={"model": MODEL})
    assert response.status_code == 403
    assert f"DELETE /v1/collections/{COLLECTION}" in response.json()["error"]
    assert [c.name for c in services.store.list_collections()] == [COLLECTION]
    missing = await client.request("DELETE", "/api/delete", json={"model": "llama3.2"})
    assert missing.status_code == 404


async def test_legacy_embeddings_go_through_embed(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    response = await client.post(
        "/api/embeddings", json={"model": "fake-embed", "prompt": "vector search"}
    )
    assert response.status_code == 200
    embedding = OllamaLegacyEmbedding.model_validate(response.json()).embedding
    assert embedding == pytest.approx(hash_vector("vector search", 32))
    sent = json.loads(upstream.requests[-1].content)
    assert sent == {
        "model": "fake-embed",
        "input": "vector search",
        "truncate": True,
        "keep_alive": "30m",
    }


async def test_legacy_embeddings_errors(client: httpx.AsyncClient, upstream: FakeUpstream) -> None:
    empty = await client.post("/api/embeddings", json={"model": "fake-embed", "prompt": ""})
    assert empty.json() == {"embedding": []}
    missing = await client.post("/api/embeddings", json={"model": "nomic", "prompt": "a"})
    assert missing.status_code == 404
    assert missing.json() == {"error": 'model "nomic" not found, try pulling it first'}
    chat_model = await client.post("/api/embeddings", json={"model": MODEL, "prompt": "a"})
    assert chat_model.status_code == 400
    assert "embed with an embedding model such as" in chat_model.json()["error"]
    upstream.down = True
    down = await client.post("/api/embeddings", json={"model": "fake-embed", "prompt": "a"})
    assert down.status_code == 503
