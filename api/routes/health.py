"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import check_api_key
from api.deps import OllamaDep, SettingsDep
from api.schemas import HealthPublic, ReadinessCheck, ReadinessPublic
from retrieval.doctor import READINESS, run_checks
from retrieval.errors import Unauthorized

router = APIRouter(tags=["health"])

WORKERS_TIMEOUT_S = 1.0
"""How long a no-op may wait for a worker thread before the service counts as saturated."""


async def workers_check() -> ReadinessCheck:
    """Whether the worker threads (store calls, file reads) take new work promptly.

    Every store call runs in the default thread pool; when it is saturated, requests
    stall even though the process is alive, and readiness says so.
    """
    try:
        async with asyncio.timeout(WORKERS_TIMEOUT_S):
            await asyncio.to_thread(lambda: None)
    except TimeoutError:
        return ReadinessCheck(
            name="workers",
            ok=False,
            message=f"Worker threads did not take a task within {WORKERS_TIMEOUT_S:g} s: "
            "the service is saturated (file reads, store calls); retry shortly.",
        )
    return ReadinessCheck(name="workers", ok=True, message="Worker threads are responsive.")


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
    """Ollama reachable, both models present, Chroma usable, worker threads free; else 503.

    The checks of ``docent doctor``, plus this process's worker threads. Open to probes
    without a key, which get the bare status (``checks`` empty); the checks' detail
    (Ollama's URL, model names) needs a key when keys are configured.
    """
    workers = await workers_check()
    checks = [workers]
    if workers.ok:  # the other checks need worker threads themselves
        checks[:0] = [
            ReadinessCheck(name=check.name, ok=check.ok, message=check.message)
            for check in await run_checks(settings, ollama, READINESS)
        ]
    ready = all(check.ok for check in checks)
    try:
        check_api_key(request.headers.get("authorization"), settings.api.api_keys)
    except Unauthorized:
        checks = []
    body = ReadinessPublic(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
