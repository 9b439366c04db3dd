"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.schemas import HealthPublic, ReadinessCheck, ReadinessPublic
from api.services import Services
from retrieval.errors import DocentError

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_SECONDS = 5.0


def same_model(wanted: str, listed: str) -> bool:
    """Ollama names match with or without the implicit ``:latest`` tag."""

    def norm(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return norm(wanted) == norm(listed)


async def _ollama_checks(services: Services) -> list[ReadinessCheck]:
    url = services.settings.ollama.base_url
    try:
        answer = await services.ollama_http.get("/api/tags", timeout=PROBE_TIMEOUT_SECONDS)
        answer.raise_for_status()
        names = [str(m.get("name") or m.get("model")) for m in answer.json().get("models", [])]
    except (httpx.HTTPError, ValueError, AttributeError):
        message = (
            f"Ollama is not answering at {url}. Start it with `ollama serve` "
            "(or set OLLAMA_HOST to where it runs)."
        )
        return [ReadinessCheck(name="ollama", ok=False, message=message)]
    checks = [ReadinessCheck(name="ollama", ok=True, message=f"Ollama answers at {url}.")]
    for kind, model in (
        ("embed_model", services.embedder.model),
        ("chat_model", services.chat.model),
    ):
        present = any(same_model(model, name) for name in names)
        message = (
            f"{model} is available."
            if present
            else f"{model} is not pulled in Ollama at {url}: run `ollama pull {model}`."
        )
        checks.append(ReadinessCheck(name=kind, ok=present, message=message))
    return checks


async def _chroma_check(services: Services) -> ReadinessCheck:
    try:
        collections = await asyncio.to_thread(services.store.list_collections)
    except DocentError as exc:
        return ReadinessCheck(name="chroma", ok=False, message=exc.message)
    except Exception:
        message = (
            "Chroma cannot be used. Check DOCENT_CHROMA_PATH (writable folder) or "
            "DOCENT_CHROMA_HOST/PORT (a running Chroma server)."
        )
        return ReadinessCheck(name="chroma", ok=False, message=message)
    return ReadinessCheck(
        name="chroma", ok=True, message=f"Chroma is usable ({len(collections)} collections)."
    )


@router.get("/healthz")
async def healthz() -> HealthPublic:
    """The process is alive (checks nothing else)."""
    return HealthPublic()


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "A check failed."}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ollama reachable, both models present, Chroma usable; 503 with the failing checks."""
    ollama_checks, chroma = await asyncio.gather(_ollama_checks(services), _chroma_check(services))
    checks = [*ollama_checks, chroma]
    ready = all(check.ok for check in checks)
    body = ReadinessPublic(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
