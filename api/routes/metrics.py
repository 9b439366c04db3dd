"""Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api import metrics as metrics_module
from api.auth import require_api_key
from api.deps import MetricsDep

router = APIRouter(tags=["health"], dependencies=[Depends(require_api_key)])


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests, latencies, tokens, embedding calls and ingested chunks (Prometheus text)."""
    return Response(metrics.render(), media_type=metrics_module.CONTENT_TYPE)
