"""Model routes: ``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings``."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from standin.errors import (
    EMBEDDINGS_UNSUPPORTED_MESSAGE,
    MODEL_REQUIRED_MESSAGE,
    GoJSONResponse,
    OllamaError,
    model_not_found,
    model_not_found_pull_hint,
)
from standin.jobs import Emit, Job
from standin.keepalive import parse_keep_alive
from standin.models.chat import Completion, Sampling, prompt_budget, truncate_tokens
from standin.options import sampling_from
from standin.registry import ModelSpec, now_rfc3339, resolve
from standin.state import StandinState, get_state
from standin.validation import read_json

NDJSON = "application/x-ndjson"

Chunk = Callable[[str], dict[str, Any]]


def _model_or_404(name: str) -> ModelSpec:
    spec = resolve(name)
    if spec is None:
        raise model_not_found(name)
    return spec


def _messages(raw: list[Any]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            kind = "string" if isinstance(item, str) else "value"
            raise OllamaError(
                400, f"json: cannot unmarshal {kind} into Go struct field of type api.Message"
            )
        role = item.get("role") or ""
        content = item.get("content") or ""
        if not isinstance(role, str) or not isinstance(content, str):
            raise OllamaError(400, "json: cannot unmarshal into Go struct field of type string")
        messages.append({"role": role, "content": content})
    return messages


def _reject_thinking(body: dict[str, Any], name: str) -> None:
    think = body.get("think")
    if think is True or (isinstance(think, str) and think not in ("", "false")):
        raise OllamaError(400, f'"{name}" does not support thinking')


def _metrics(job: Job, result: Completion) -> dict[str, Any]:
    return {
        "done_reason": result.done_reason,
        "total_duration": job.elapsed_ns(),
        "load_duration": job.load_ns,
        "prompt_eval_count": result.prompt_eval_count,
        "prompt_eval_duration": result.prompt_eval_ns,
        "eval_count": result.eval_count,
        "eval_duration": result.eval_ns,
    }


async def _answer(
    request: Request,
    job: Job,
    *,
    stream: bool,
    piece: Chunk,
    final: Callable[[str, Completion], dict[str, Any]],
) -> Response:
    """Stream NDJSON pieces then a final object, or answer once with the whole text."""
    job.start()
    try:
        await job.wait_ready(request)
    except BaseException:
        job.cancel.set()
        raise
    if not stream:
        try:
            text, result = await job.collect(request)
        finally:
            job.cancel.set()
        return GoJSONResponse(final(text, result))

    async def lines() -> AsyncIterator[bytes]:
        try:
            while True:
                event = await job.next_event()
                if event.kind == "token":
                    yield _line(piece(event.payload))
                elif event.kind == "done":
                    yield _line(final("", event.payload))
                    return
                elif event.kind == "error":
                    yield _line({"error": event.payload.message})
                    return
        finally:
            job.cancel.set()

    return StreamingResponse(lines(), media_type=NDJSON)


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _unload_answer(state: StandinState, spec: ModelSpec, extra: dict[str, Any]) -> Response:
    host = state.hosts.get(spec)
    if host.busy == 0:
        host.unload()
    else:
        host.touch(0.0)
    return _done_answer(extra, "unload")


def _done_answer(fields: dict[str, Any], reason: str) -> Response:
    """The one final object Ollama sends when a request only loads or unloads a model."""
    return GoJSONResponse(
        {
            "model": fields.pop("model"),
            "created_at": now_rfc3339(),
            **fields,
            "done": True,
            "done_reason": reason,
        }
    )


async def chat(request: Request) -> Response:
    """``POST /api/chat``."""
    state = get_state(request)
    body = await read_json(request, "ChatRequest")
    name = body.get("model") or ""
    if not name:
        raise OllamaError(400, MODEL_REQUIRED_MESSAGE)
    spec = _model_or_404(name)
    keep_alive = parse_keep_alive(body.get("keep_alive"))
    messages = _messages(body.get("messages") or [])
    empty_message = {"role": "assistant", "content": ""}
    if not messages and keep_alive == 0:
        return _unload_answer(state, spec, {"model": name, "message": empty_message})
    if spec.kind != "completion":
        raise OllamaError(400, f'"{name}" does not support chat')
    _reject_thinking(body, name)
    sampling = sampling_from(spec, body.get("options"))
    state.scheduler.admit()
    host = state.hosts.get(spec)

    def work(emit: Emit, cancel: threading.Event) -> Completion:
        assert host.chat is not None
        prompt = host.chat.chat_prompt(messages, sampling)
        return host.chat.complete(
            prompt, sampling, fmt=body.get("format"), cancel=cancel, emit=emit
        )

    job = Job(
        state.scheduler,
        host,
        work if messages else None,
        n_ctx=sampling.num_ctx,
        keep_alive=keep_alive,
    )
    if not messages:
        return await _load_only(request, job, {"model": name, "message": empty_message})

    def piece(text: str) -> dict[str, Any]:
        return {
            "model": name,
            "created_at": now_rfc3339(),
            "message": {"role": "assistant", "content": text},
            "done": False,
        }

    def final(text: str, result: Completion) -> dict[str, Any]:
        return {
            "model": name,
            "created_at": now_rfc3339(),
            "message": {"role": "assistant", "content": text},
            "done": True,
            **_metrics(job, result),
        }

    return await _answer(
        request, job, stream=body.get("stream") is not False, piece=piece, final=final
    )


async def _load_only(request: Request, job: Job, fields: dict[str, Any]) -> Response:
    job.start()
    await job.wait_ready(request)
    await job.collect(request)
    return _done_answer(fields, "load")


async def generate(request: Request) -> Response:
    """``POST /api/generate``."""
    state = get_state(request)
    body = await read_json(request, "GenerateRequest")
    name = body.get("model") or ""
    spec = _model_or_404(name)
    keep_alive = parse_keep_alive(body.get("keep_alive"))
    prompt_text: str = body.get("prompt") or ""
    if not prompt_text and keep_alive == 0:
        return _unload_answer(state, spec, {"model": name, "response": ""})
    raw = bool(body.get("raw"))
    if raw and (body.get("template") or body.get("system") or body.get("context")):
        raise OllamaError(400, "raw mode does not support template, system, or context")
    if spec.kind != "completion":
        raise OllamaError(400, f'"{name}" does not support generate')
    if body.get("suffix"):
        raise OllamaError(400, f"registry.ollama.ai/library/{spec.name} does not support insert")
    _reject_thinking(body, name)
    sampling = sampling_from(spec, body.get("options"))
    state.scheduler.admit()
    host = state.hosts.get(spec)
    system: str = body.get("system") or ""
    context: list[int] = [int(t) for t in body.get("context") or []]

    def work(emit: Emit, cancel: threading.Event) -> Completion:
        assert host.chat is not None
        engine = host.chat
        if raw:
            tokens = engine.raw_prompt(prompt_text, sampling)
        else:
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": prompt_text})
            tokens = engine.chat_prompt(messages, sampling)
            if context:  # the deprecated conversation memory: earlier tokens go first
                tokens = truncate_tokens(
                    context + tokens, prompt_budget(sampling), sampling.num_keep
                )
        return engine.complete(tokens, sampling, fmt=body.get("format"), cancel=cancel, emit=emit)

    job = Job(
        state.scheduler,
        host,
        work if prompt_text else None,
        n_ctx=sampling.num_ctx,
        keep_alive=keep_alive,
    )
    if not prompt_text:
        return await _load_only(request, job, {"model": name, "response": ""})

    def piece(text: str) -> dict[str, Any]:
        return {"model": name, "created_at": now_rfc3339(), "response": text, "done": False}

    def final(text: str, result: Completion) -> dict[str, Any]:
        answer = {
            "model": name,
            "created_at": now_rfc3339(),
            "response": text,
            "done": True,
            **_metrics(job, result),
        }
        if not raw:
            answer["context"] = result.context
        return answer

    return await _answer(
        request, job, stream=body.get("stream") is not False, piece=piece, final=final
    )


def _inputs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise OllamaError(400, "invalid input type")


def _embed_model(name: str) -> ModelSpec:
    if not name:
        raise OllamaError(400, MODEL_REQUIRED_MESSAGE)
    spec = resolve(name)
    if spec is None:
        raise model_not_found_pull_hint(name)
    return spec


async def embed(request: Request) -> Response:
    """``POST /api/embed``."""
    state = get_state(request)
    body = await read_json(request, "EmbedRequest")
    name = body.get("model") or ""
    texts = _inputs(body.get("input"))
    spec = _embed_model(name)
    keep_alive = parse_keep_alive(body.get("keep_alive"))
    truncate = body.get("truncate") is not False
    dimensions = int(body.get("dimensions") or 0)
    if texts and spec.kind != "embedding":
        raise OllamaError(501, EMBEDDINGS_UNSUPPORTED_MESSAGE)
    state.scheduler.admit()
    host = state.hosts.get(spec)

    def work(_emit: Emit, _cancel: threading.Event) -> tuple[list[list[float]], int]:
        if host.embedder is None:
            return [], 0
        vectors, tokens = host.embedder.embed(texts, truncate=truncate)
        if 0 < dimensions < vectors.shape[1]:
            vectors = vectors[:, :dimensions]
            vectors = vectors / (vectors**2).sum(axis=1, keepdims=True).clip(1e-24) ** 0.5
        return vectors.tolist(), tokens

    job = Job(state.scheduler, host, work, n_ctx=Sampling().num_ctx, keep_alive=keep_alive)
    job.start()
    await job.wait_ready(request)
    _, (vectors, tokens) = await job.collect(request)
    if not texts:
        return GoJSONResponse({"model": name, "embeddings": []})
    return GoJSONResponse(
        {
            "model": name,
            "embeddings": vectors,
            "total_duration": job.elapsed_ns(),
            "load_duration": job.load_ns,
            "prompt_eval_count": tokens,
        }
    )


async def embeddings(request: Request) -> Response:
    """``POST /api/embeddings`` (legacy): one prompt, one ``embedding``."""
    state = get_state(request)
    body = await read_json(request, "EmbeddingRequest")
    spec = _embed_model(body.get("model") or "")
    keep_alive = parse_keep_alive(body.get("keep_alive"))
    prompt: str = body.get("prompt") or ""
    if prompt and spec.kind != "embedding":
        raise OllamaError(500, EMBEDDINGS_UNSUPPORTED_MESSAGE)
    state.scheduler.admit()
    host = state.hosts.get(spec)

    def work(_emit: Emit, _cancel: threading.Event) -> list[float]:
        if host.embedder is None or not prompt:
            return []
        vectors, _ = host.embedder.embed([prompt], truncate=True)
        return [float(v) for v in vectors[0]]

    job = Job(state.scheduler, host, work, n_ctx=Sampling().num_ctx, keep_alive=keep_alive)
    job.start()
    await job.wait_ready(request)
    _, vector = await job.collect(request)
    return GoJSONResponse({"embedding": vector})
