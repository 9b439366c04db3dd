"""POST /v1/search: ranked chunks, no chat call."""

from __future__ import annotations

import httpx

from api.schemas import HitsPublic
from tests.api.conftest import COLLECTION
from tests.fakes import ScriptedChat


async def test_search_returns_ranked_hits(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    response = await client.post(
        "/v1/search",
        json={"query": "warranty heating element kettle", "collection": COLLECTION, "k": 2},
    )
    assert response.status_code == 200
    hits = HitsPublic.model_validate(response.json())
    assert hits.count == 2
    assert hits.data[0].source == "warranty.md"
    assert "two year warranty" in hits.data[0].text
    assert hits.data[0].score >= hits.data[1].score
    assert chat.calls == 0


async def test_search_reports_pages_and_filters(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/search",
        json={
            "query": "returns receipt",
            "collection": COLLECTION,
            "filters": {"source": "returns.pdf"},
        },
    )
    hits = HitsPublic.model_validate(response.json())
    assert [(h.source, h.page) for h in hits.data] == [("returns.pdf", 2)]


async def test_search_unknown_collection_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", json={"query": "x", "collection": "missing"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "collection_not_found"


async def test_search_invalid_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", json={"query": "x", "collection": "a/b", "extra": 1})
    assert response.status_code == 422
    locations = {d["loc"] for d in response.json()["error"]["details"]}
    assert locations == {"body.collection", "body.extra"}
