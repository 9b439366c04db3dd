"""Fault injection of the stand-in: a full queue answers 503, the error rate answers 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import ollama
import pytest


async def test_queue_full_is_503(standin_factory: Callable[..., str], embed_model: str) -> None:
    host = standin_factory("--max-queue", "1", "--latency-ms", "700")
    async with httpx.AsyncClient(base_url=host, timeout=60) as http:
        body = {"model": embed_model, "input": "hello"}
        running = asyncio.create_task(http.post("/api/embed", json=body))
        await asyncio.sleep(0.2)
        waiting = asyncio.create_task(http.post("/api/embed", json=body))
        await asyncio.sleep(0.2)
        rejected = await http.post("/api/embed", json=body)
        assert rejected.status_code == 503
        assert rejected.json() == {
            "error": "server busy, please try again.  maximum pending requests exceeded"
        }
        assert (await running).status_code == 200
        assert (await waiting).status_code == 200


def test_error_rate_answers_500(standin_factory: Callable[..., str], embed_model: str) -> None:
    host = standin_factory("--error-rate", "1", "--seed", "3")
    client = ollama.Client(host=host)
    with pytest.raises(ollama.ResponseError) as raised:
        client.embed(embed_model, input="hello")
    assert raised.value.status_code == 500
    assert client.list().models  # management routes are not faulted
