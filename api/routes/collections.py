"""Collections: list, create, delete."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path

from api.auth import require_api_key
from api.deps import EmbedderDep, StoreDep
from api.schemas import (
    COLLECTION_PATTERN,
    CollectionCreate,
    CollectionDeleted,
    CollectionPublic,
    CollectionsPublic,
    error_responses,
)
from retrieval.store import CollectionInfo, embedding_dimension

router = APIRouter(tags=["collections"], dependencies=[Depends(require_api_key)])


def collection_public(info: CollectionInfo) -> CollectionPublic:
    return CollectionPublic(
        name=info.name,
        embed_model=info.embed_model,
        dimension=info.dimension,
        chunk_count=info.chunk_count,
        document_count=info.document_count,
    )


@router.get("/v1/collections", responses=error_responses(401, 503))
async def list_collections(store: StoreDep) -> CollectionsPublic:
    """Every collection, with its embedding model and counts."""
    infos = await asyncio.to_thread(store.list_collections)
    return CollectionsPublic(data=[collection_public(i) for i in infos], count=len(infos))


@router.post("/v1/collections", status_code=201, responses=error_responses(400, 401, 409, 422, 503))
async def create_collection(
    body: CollectionCreate, store: StoreDep, embedder: EmbedderDep
) -> CollectionPublic:
    """Create an empty collection for the configured embedding model."""
    dimension = await embedding_dimension(embedder)
    info = await asyncio.to_thread(store.create_collection, body.name, embedder.model, dimension)
    return collection_public(info)


@router.delete("/v1/collections/{name}", responses=error_responses(400, 401, 404, 503))
async def delete_collection(
    store: StoreDep, name: str = Path(pattern=COLLECTION_PATTERN)
) -> CollectionDeleted:
    """Delete a collection with all its chunks, records and derived indexes."""
    await asyncio.to_thread(store.delete_collection, name)
    return CollectionDeleted(name=name)
