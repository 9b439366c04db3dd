"""Model management routes: ``/api/tags``, ``/api/show``, ``/api/ps`` and ``/api/pull``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from standin.errors import (
    MODEL_REQUIRED_MESSAGE,
    PULL_MISSING_MESSAGE,
    GoJSONResponse,
    OllamaError,
    model_not_found,
)
from standin.registry import (
    ModelSpec,
    file_sha256,
    listed_names,
    modelfile,
    parameters_text,
    resolve,
)
from standin.state import get_state
from standin.validation import read_json


async def tags(request: Request) -> Response:
    """``GET /api/tags``: the installed models."""
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": spec.modified_at(),
            "size": spec.size(),
            "digest": spec.digest(),
            "details": spec.details(),
        }
        for name, spec in listed_names()
    ]
    return GoJSONResponse({"models": models})


async def show(request: Request) -> Response:
    """``POST /api/show``: details, model_info, template, parameters and capabilities."""
    body = await read_json(request, "ShowRequest")
    name = body.get("model") or body.get("name") or ""
    if not name:
        raise OllamaError(400, MODEL_REQUIRED_MESSAGE)
    spec = resolve(name)
    if spec is None:
        raise model_not_found(name)
    answer: dict[str, Any] = {
        "license": spec.license,
        "modelfile": modelfile(spec, name),
        "parameters": parameters_text(spec),
        "template": spec.template,
        "details": spec.details(),
        "model_info": dict(spec.model_info),
        "tensors": [],
        "capabilities": spec.capabilities,
        "modified_at": spec.modified_at(),
    }
    if not answer["parameters"]:
        del answer["parameters"]
    return GoJSONResponse(answer)


async def ps(request: Request) -> Response:
    """``GET /api/ps``: loaded models and when they expire."""
    hosts = get_state(request).hosts.loaded()
    return GoJSONResponse({"models": [host.ps_entry() for host in hosts]})


def _pull_statuses(spec: ModelSpec) -> list[dict[str, Any]]:
    statuses: list[dict[str, Any]] = [{"status": "pulling manifest"}]
    for weight in spec.files:
        digest = file_sha256(weight.path)
        total = weight.path.stat().st_size
        for completed in (0, total // 2, total):
            statuses.append(
                {
                    "status": f"pulling {digest[:12]}",
                    "digest": f"sha256:{digest}",
                    "total": total,
                    "completed": completed,
                }
            )
    statuses += [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    return statuses


async def pull(request: Request) -> Response:
    """``POST /api/pull``: a no-op "download" of a model it has; Ollama's error otherwise."""
    body = await read_json(request, "PullRequest")
    name = body.get("model") or body.get("name") or ""
    if not name:
        raise OllamaError(400, "invalid model name")
    spec = resolve(name)
    stream = body.get("stream") is not False
    if spec is None:
        if not stream:
            raise OllamaError(500, PULL_MISSING_MESSAGE)
        statuses: list[dict[str, Any]] = [
            {"status": "pulling manifest"},
            {"error": PULL_MISSING_MESSAGE},
        ]
    else:
        statuses = _pull_statuses(spec)
    if not stream:
        return GoJSONResponse(statuses[-1])

    async def lines() -> AsyncIterator[bytes]:
        for status in statuses:
            yield json.dumps(status, separators=(",", ":")).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
