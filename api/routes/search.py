"""Retrieval only: ``POST /v1/search`` (no chat model call)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import require_api_key
from api.deps import SearcherDep, ServicesDep
from api.schemas import HitPublic, HitsPublic, SearchCreate, error_responses
from retrieval.search import SearchRequest
from retrieval.types import Hit

router = APIRouter(tags=["search"], dependencies=[Depends(require_api_key)])


def hit_public(hit: Hit) -> HitPublic:
    """A hit as the API shows it."""
    index = hit.metadata.get("chunk_index")
    return HitPublic(
        id=hit.id,
        score=hit.score,
        source=hit.source,
        page=hit.page,
        chunk_index=int(index) if isinstance(index, int | float) else None,
        text=hit.text,
        ocr=hit.metadata.get("ocr") is True,
    )


@router.post("/v1/search", responses=error_responses(400, 401, 404, 409, 422, 502, 503))
async def search(body: SearchCreate, searcher: SearcherDep, services: ServicesDep) -> HitsPublic:
    """The best-ranked chunks for a query, with scores, source, page and text.

    At most ``DOCENT_MAX_SEARCHES`` run at once; more wait, up to
    ``DOCENT_MAX_QUEUED_SEARCHES``, then 503 ``busy``.
    """
    slot = await services.searches.acquire()
    try:
        hits = await searcher.search(
            SearchRequest(
                query=body.query,
                collection=body.collection,
                k=body.k,
                mode=body.mode,
                filters=body.filters,
                mmr=body.mmr,
            )
        )
    finally:
        slot.release()
    return HitsPublic(data=[hit_public(hit) for hit in hits], count=len(hits))
