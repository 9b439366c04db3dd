"""JSON bodies whatever the content type on the Ollama routes, and the origin check."""

from __future__ import annotations

import json

import httpx
import pytest

from api.edge import origin_allowed
from tests.api.conftest import COLLECTION, QUESTION
from tests.fakes import ScriptedChat

MODEL = f"docent/{COLLECTION}"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "text/plain; charset=utf-8", None],
)
async def test_json_body_whatever_the_content_type(
    client: httpx.AsyncClient, chat: ScriptedChat, content_type: str | None
) -> None:
    chat.enqueue("Weekdays [1].")
    body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "stream": False}
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/api/chat", content=json.dumps(body), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"].startswith("Weekdays [1].")


async def test_invalid_json_is_still_a_clear_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/show", content=b"model=docent", headers=FORM)
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]


async def test_native_routes_keep_their_content_type_rules(client: httpx.AsyncClient) -> None:
    body = json.dumps({"query": QUESTION, "collection": COLLECTION})
    response = await client.post("/v1/search", content=body, headers=FORM)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("origin", "allowlist", "allowed"),
    [
        ("https://evil.example", [], False),
        ("null", [], False),
        ("http://docent.test", [], True),  # the server's own pages
        ("http://localhost:3000", ["http://localhost:*"], True),
        ("http://localhost.evil:3000", ["http://localhost:*"], False),
        ("https://app.example", ["https://app.example"], True),
        ("https://other.example", ["*"], True),
    ],
)
def test_origin_allowed(origin: str, allowlist: list[str], allowed: bool) -> None:
    assert origin_allowed(origin, allowlist, "docent.test") is allowed


async def test_foreign_origin_write_is_refused_before_anything_runs(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    body = json.dumps({"model": MODEL, "prompt": QUESTION, "stream": False})
    headers = {**FORM, "Origin": "https://evil.example"}
    response = await client.post("/api/generate", content=body, headers=headers)
    assert response.status_code == 403
    assert "DOCENT_CORS_ORIGINS" in response.json()["error"]
    assert chat.calls == 0
    pulled = await client.post("/api/pull", json={"model": MODEL}, headers=headers)
    assert pulled.status_code == 403


async def test_reads_from_a_foreign_origin_are_not_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/tags", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("api_settings", [{"cors_origins": ["http://localhost:*"]}])
async def test_allowlisted_origin_may_write(
    client: httpx.AsyncClient, chat: ScriptedChat, api_settings: dict[str, object]
) -> None:
    chat.enqueue("Two years [2].")
    response = await client.post(
        "/api/generate",
        json={"model": MODEL, "prompt": "How long is the warranty?", "stream": False},
        headers={"Origin": "http://localhost:8080"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8080"
