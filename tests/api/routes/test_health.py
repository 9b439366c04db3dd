"""/healthz and /readyz."""

from __future__ import annotations

import httpx

from api.schemas import ReadinessPublic
from tests.api.conftest import FakeUpstream


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    ready = ReadinessPublic.model_validate(response.json())
    assert ready.status == "ready"
    assert [c.name for c in ready.checks] == [
        "ollama",
        "embed_model",
        "chat_model",
        "chroma",
        "workers",
    ]


async def test_readyz_missing_model_is_503(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    upstream.models = ["fake-embed:latest"]
    response = await client.get("/readyz")
    assert response.status_code == 503
    ready = ReadinessPublic.model_validate(response.json())
    failing = [c for c in ready.checks if not c.ok]
    assert [c.name for c in failing] == ["chat_model"]
    assert "ollama pull scripted" in failing[0].message


async def test_readyz_ollama_down_is_503(client: httpx.AsyncClient, upstream: FakeUpstream) -> None:
    upstream.down = True
    response = await client.get("/readyz")
    assert response.status_code == 503
    ready = ReadinessPublic.model_validate(response.json())
    assert ready.status == "not_ready"
    assert {c.name: c.ok for c in ready.checks} == {
        "ollama": False,
        "chroma": True,
        "workers": True,
    }
    assert "ollama serve" in ready.checks[0].message
