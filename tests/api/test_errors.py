"""Error shapes per door; unexpected errors never leak their text."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.errors import error_body, family_for_path, status_for_code
from api.services import Services
from tests.api.conftest import COLLECTION


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/v1/query", "native"),
        ("/api/chat", "ollama"),
        ("/v1/chat/completions", "openai"),
        ("/v1/models/docent/x", "openai"),
        ("/v1/collections", "native"),
    ],
)
def test_family_for_path(path: str, family: str) -> None:
    assert family_for_path(path) == family


def test_status_for_code() -> None:
    assert status_for_code("collection_not_found") == 404
    assert status_for_code("ollama_unavailable") == 503
    assert status_for_code("no_such_code") == 500


def test_openai_error_body_names_the_field() -> None:
    body = error_body("openai", 422, "validation_error", "bad", details=[{"loc": "body.model"}])
    assert body == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "model",
            "code": "validation_error",
        }
    }


async def test_unknown_route_is_404_in_shape(client: httpx.AsyncClient) -> None:
    native = await client.get("/v1/nothing")
    ollama = await client.get("/api/nothing")
    assert native.status_code == ollama.status_code == 404
    assert native.json()["error"]["code"] == "not_found"
    assert isinstance(ollama.json()["error"], str)


async def test_unexpected_error_is_internal_error_without_details(services: Services) -> None:
    class Exploding:
        def list_collections(self):
            raise RuntimeError("secret path /home/alice/.ssh")

    app = create_app(services=services)
    from api.deps import get_store

    app.dependency_overrides[get_store] = lambda: Exploding()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/v1/collections")
        other = await http.post("/v1/search", json={"query": "x", "collection": COLLECTION})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text
    assert other.status_code == 200
