"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import OllamaDep, SettingsDep
from api.schemas import HealthPublic, ReadinessCheck, ReadinessPublic
from retrieval.doctor import READINESS, run_checks

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> HealthPublic:
    """The process is alive (checks nothing else)."""
    return HealthPublic()


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "A check failed."}},
)
async def readyz(settings: SettingsDep, ollama: OllamaDep) -> JSONResponse:
    """Ollama reachable, both models present, Chroma usable; 503 with the failing checks.

    The same checks as ``docent doctor``.
    """
    checks = [
        ReadinessCheck(name=check.name, ok=check.ok, message=check.message)
        for check in await run_checks(settings, ollama, READINESS)
    ]
    ready = all(check.ok for check in checks)
    body = ReadinessPublic(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
