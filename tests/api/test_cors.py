"""CORS: the DOCENT_CORS_ORIGINS allowlist, wildcards, and the headers browser SDKs send."""

from __future__ import annotations

import httpx
import pytest

ORIGINS = {"cors_origins": ["https://app.example", "http://localhost:*"]}


@pytest.mark.parametrize("api_settings", [ORIGINS])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example", True),
        ("http://localhost:3000", True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
    ],
)
async def test_allowlist(client: httpx.AsyncClient, origin: str, allowed: bool) -> None:
    response = await client.get("/healthz", headers={"Origin": origin})
    assert response.status_code == 200
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed


@pytest.mark.parametrize("api_settings", [ORIGINS])
async def test_preflight_accepts_the_openai_browser_headers(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": (
                "authorization, content-type, x-stainless-os, x-stainless-retry-count"
            ),
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
