"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import check_api_key
from api.deps import OllamaDep, SettingsDep
from api.schemas import HealthPublic, ReadinessCheck, ReadinessPublic
from retrieval.doctor import run_checks
from retrieval.errors import Unauthorized

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
async def readyz(request: Request, settings: SettingsDep, ollama: OllamaDep) -> JSONResponse:
    """Ollama reachable, both models present, Chroma usable; 503 when a check fails.

    The same checks as ``docent doctor``. Open to probes without a key, which get the
    bare status (``checks`` empty); the checks' detail (Ollama's URL, model names) needs
    a key when keys are configured.
    """
    checks = [
        ReadinessCheck(name=check.name, ok=check.ok, message=check.message)
        for check in await run_checks(settings, ollama)
    ]
    ready = all(check.ok for check in checks)
    try:
        check_api_key(request.headers.get("authorization"), settings.api.api_keys)
    except Unauthorized:
        checks = []
    body = ReadinessPublic(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
