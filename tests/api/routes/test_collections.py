"""Collections: list, create, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from api.schemas import CollectionDeleted, CollectionPublic, CollectionsPublic
from api.services import Services
from retrieval.lexical import LexicalIndexes
from tests.api.conftest import COLLECTION


async def test_list_collections(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/collections")
    assert response.status_code == 200
    listed = CollectionsPublic.model_validate(response.json())
    assert listed.count == 1
    assert listed.data[0].name == COLLECTION
    assert listed.data[0].embed_model == "fake-embed"
    assert listed.data[0].dimension == 32
    assert listed.data[0].chunk_count == 3


async def test_create_then_conflict_then_delete(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/collections", json={"name": "manuals"})
    assert created.status_code == 201
    info = CollectionPublic.model_validate(created.json())
    assert (info.name, info.embed_model, info.dimension, info.chunk_count) == (
        "manuals",
        "fake-embed",
        32,
        0,
    )
    again = await client.post("/v1/collections", json={"name": "manuals"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "collection_exists"
    deleted = await client.delete("/v1/collections/manuals")
    assert deleted.status_code == 200
    assert CollectionDeleted.model_validate(deleted.json()).name == "manuals"
    names = [c["name"] for c in (await client.get("/v1/collections")).json()["data"]]
    assert names == [COLLECTION]


async def test_delete_unknown_collection_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/collections/ghost")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "collection_not_found"


async def test_create_with_bad_name_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/collections", json={"name": "../etc"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == "body.name"


async def test_delete_drops_the_lexical_index(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    # the route only asks the store; the store tells its derived indexes
    services.searcher.lexical = LexicalIndexes(services.store, tmp_path / "lexical")
    services.store.subscribe(services.searcher.lexical)
    folder = services.searcher.lexical.folder
    assert folder is not None
    searched = await client.post(
        "/v1/search", json={"query": "warranty", "collection": COLLECTION, "mode": "lexical"}
    )
    assert searched.status_code == 200
    assert (folder / COLLECTION).is_dir()
    deleted = await client.delete(f"/v1/collections/{COLLECTION}")
    assert deleted.status_code == 200
    assert not (folder / COLLECTION).exists()


async def test_concurrent_creates_of_one_name_make_one_collection(
    client: httpx.AsyncClient,
) -> None:
    answers = await asyncio.gather(
        *(client.post("/v1/collections", json={"name": "racing"}) for _ in range(6))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
