"""The generation limiter: slots, a bounded queue, Busy beyond it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.limiter import GenerationLimiter
from retrieval.errors import Busy
from tests.api.conftest import COLLECTION, QUESTION
from tests.fakes import ScriptedChat


async def test_limiter_queues_then_refuses() -> None:
    limiter = GenerationLimiter(slots=1, queue=1)
    first = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert (limiter.active, limiter.waiting) == (1, 1)
    with pytest.raises(Busy, match="DOCENT_MAX_QUEUED=1"):
        await limiter.acquire()
    first.release()
    first.release()  # idempotent
    second = await waiter
    assert (limiter.active, limiter.waiting) == (1, 0)
    second.release()
    assert limiter.active == 0


@pytest.mark.parametrize(
    "api_settings", [{"max_concurrent_generations": 1, "max_queued_generations": 0}]
)
async def test_full_queue_is_503_busy(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    chat.delay = 0.05
    chat.enqueue("one two three four five six")
    first = asyncio.create_task(
        client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION})
    )
    for _ in range(500):  # poll: the fake has no event to wait on
        if chat.calls:
            break
        await asyncio.sleep(0.01)
    busy = await client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION})
    assert busy.status_code == 503
    assert busy.json()["error"]["code"] == "busy"
    assert (await first).status_code == 200
    after = await client.post(
        "/v1/query", json={"question": QUESTION, "collection": COLLECTION, "stream": False}
    )
    assert after.status_code == 200
