"""Error shapes per door; unexpected errors never leak their text."""

from __future__ import annotations

import httpx
import pytest

import retrieval.errors
from api.app import create_app
from api.errors import error_body, family_for_unmatched
from api.routes import ROUTERS
from api.services import Services
from retrieval.errors import REGISTRY, DocentError, status_for_code
from tests.api.conftest import COLLECTION


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/v1/query", "native"),
        ("/api/chat", "ollama"),
        ("/api/nothing", "ollama"),
        ("/v1/chat/completions", "openai"),
        ("/v1/models/docent/x", "openai"),
        ("/v1/collections", "native"),
        ("/v1/completions", "native"),  # no such route: /v1 is shared, so native
        ("/nowhere", "native"),
    ],
)
def test_family_comes_from_the_routes_declared(path: str, family: str) -> None:
    routes = [route for router in ROUTERS for route in router.routes]
    assert family_for_unmatched(routes, path) == family


def test_status_for_code() -> None:
    assert status_for_code("collection_not_found") == 404
    assert status_for_code("ollama_unavailable") == 503
    assert status_for_code("model_not_found") == 404
    assert status_for_code("unauthorized") == 401
    assert status_for_code("no_such_code") == 500


def test_registry_lists_every_error_class_once() -> None:
    defined = {
        value
        for value in vars(retrieval.errors).values()
        if isinstance(value, type) and issubclass(value, DocentError)
    }
    registered = {row.error for row in REGISTRY.values()}
    assert defined - registered == {retrieval.errors.AnswerFailed}  # it carries other codes
    assert all(code == row.error.code for code, row in REGISTRY.items())
    assert all(row.http_status == row.error.http_status for row in REGISTRY.values())


async def test_validation_errors_take_the_shape_of_their_door(client: httpx.AsyncClient) -> None:
    ollama = await client.post("/api/chat", json={"messages": []})
    openai = await client.post("/v1/chat/completions", json={"messages": []})
    native = await client.post("/v1/query", json={})
    assert ollama.status_code == openai.status_code == native.status_code == 422
    assert isinstance(ollama.json()["error"], str)
    assert openai.json()["error"]["type"] == "invalid_request_error"
    assert native.json()["error"]["code"] == "validation_error"


async def test_method_not_allowed_takes_the_shape_of_the_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/chat")
    assert response.status_code == 405
    assert isinstance(response.json()["error"], str)


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
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        response = await http.get("/v1/collections")
        other = await http.post("/v1/search", json={"query": "x", "collection": COLLECTION})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text
    assert other.status_code == 200
