"""API keys on every door (native, Ollama, OpenAI), constant-time matching, and the
refusal to serve on a public address without keys."""

from __future__ import annotations

import httpx
import pytest
import typer

from api.auth import bearer_token, is_loopback, key_matches
from api.cli.serve import exposure_problem, serve_command

KEYS = {"api_keys": ["k-one", "k-two"]}


@pytest.mark.parametrize("api_settings", [KEYS])
@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [
        ("GET", "/v1/collections", "native"),
        ("GET", "/metrics", "native"),
        ("GET", "/api/tags", "ollama"),
        ("GET", "/v1/models", "openai"),
    ],
)
async def test_missing_or_wrong_key_is_401(
    client: httpx.AsyncClient, method: str, path: str, shape: str
) -> None:
    missing = await client.request(method, path)
    wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        if shape == "ollama":
            assert "API key" in error
        elif shape == "openai":
            assert (error["code"], error["type"]) == ("unauthorized", "authentication_error")
        else:
            assert error["code"] == "unauthorized"
    ok = await client.request(method, path, headers={"Authorization": "Bearer k-two"})
    assert ok.status_code == 200


@pytest.mark.parametrize("api_settings", [KEYS])
async def test_health_stays_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/")).status_code == 200


async def test_no_keys_means_no_auth(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/collections")).status_code == 200


def test_bearer_parsing_and_matching() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert key_matches("b", ["a", "b"]) is True
    assert key_matches("c", ["a", "b"]) is False
    assert key_matches("", ["a"]) is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_rules() -> None:
    assert exposure_problem("127.0.0.1", [], False) is None
    assert exposure_problem("0.0.0.0", ["k"], False) is None
    assert exposure_problem("0.0.0.0", [], True) is None
    problem = exposure_problem("0.0.0.0", [], False)
    assert problem is not None
    assert "DOCENT_API_KEYS" in problem
    assert "--allow-unauthenticated" in problem


def test_serve_refuses_public_host_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCENT_API_KEYS", raising=False)
    from retrieval.settings import get_settings

    get_settings.cache_clear()
    try:
        with pytest.raises(typer.BadParameter, match=r"Refusing to serve on 0\.0\.0\.0"):
            serve_command(host="0.0.0.0", port=0, allow_unauthenticated=False)
    finally:
        get_settings.cache_clear()


PUBLIC = {"/", "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.mark.parametrize("api_settings", [KEYS])
async def test_every_other_route_needs_a_key(client: httpx.AsyncClient) -> None:
    from fastapi.routing import APIRoute

    from api.routes import ROUTERS

    params = {
        "{name}": "docs",
        "{doc_id}": "d1",
        "{job_id}": "j1",
        "{model:path}": "docent/docs",
    }
    checked = 0
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    for route in routes:
        if route.path in PUBLIC:
            continue
        path = route.path
        for placeholder, value in params.items():
            path = path.replace(placeholder, value)
        assert "{" not in path, f"fill in the path parameters of {route.path}"
        for method in route.methods:
            response = await client.request(method, path, headers={"Authorization": "Bearer x"})
            assert response.status_code == 401, f"{method} {route.path} is open"
            checked += 1
    assert checked >= 18  # every native, Ollama and OpenAI route
