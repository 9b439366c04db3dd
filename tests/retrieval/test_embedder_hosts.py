"""OllamaEmbedder's fan-out and failure handling, over ``httpx.MockTransport`` hosts."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import ollama
import pytest

from retrieval.embedder import OllamaEmbedder
from retrieval.errors import OllamaFailed, OllamaUnavailable
from retrieval.settings import OllamaSettings


def embedder_over(handlers, **extra) -> OllamaEmbedder:
    """An embedder whose hosts answer through ``handlers`` (one per host) instead of HTTP."""
    urls = [f"127.0.0.1:{11000 + i}" for i in range(len(handlers))]
    settings = OllamaSettings(host=urls[0], hosts=",".join(urls), embed_model="m", **extra)
    embedder = OllamaEmbedder(settings)
    for host, handler in zip(embedder._hosts, handlers, strict=True):
        host.client = ollama.AsyncClient(host=host.url, transport=httpx.MockTransport(handler))
    return embedder


def vectors_for(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    return httpx.Response(200, json={"model": "m", "embeddings": [[1.0, 0.0]] * len(inputs)})


async def test_a_failed_batch_cancels_the_batches_still_in_flight():
    finished: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["input"][0]
        if text == "bad":
            return httpx.Response(400, json={"error": "input is not valid"})
        await asyncio.sleep(0.3)
        finished.append(text)
        return vectors_for(request)

    embedder = embedder_over([handler], embed_batch_size=1, embed_concurrency=4)
    with pytest.raises(OllamaFailed, match="400"):
        await embedder.embed_documents(["a", "bad", "b", "c"])
    await asyncio.sleep(0.6)
    assert finished == []
    await embedder.aclose()


async def test_retries_go_to_a_healthy_host_while_a_failing_one_rests():
    calls = {"down": 0, "up": 0}

    def down(request: httpx.Request) -> httpx.Response:
        calls["down"] += 1
        raise httpx.ConnectError("connection refused", request=request)

    async def up(request: httpx.Request) -> httpx.Response:
        calls["up"] += 1
        await asyncio.sleep(0.05)
        return vectors_for(request)

    embedder = embedder_over([down, up], embed_batch_size=1, embed_concurrency=1, max_retries=1)
    vectors = await embedder.embed_documents([f"t{i}" for i in range(8)])
    assert len(vectors) == 8
    assert calls["up"] == 8
    assert calls["down"] <= 2  # tried, then left alone while it rests
    await embedder.aclose()


async def test_a_server_that_hangs_up_becomes_ollama_unavailable():
    def hangs_up(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    embedder = embedder_over([hangs_up], max_retries=1)
    with pytest.raises(OllamaUnavailable, match="ollama serve"):
        await embedder.embed_documents(["x"])
    assert embedder.calls == 2
    await embedder.aclose()


async def test_requests_group_texts_of_similar_length_and_answers_keep_input_order():
    requests: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        requests.append(inputs)
        # each vector says which text it is for: its length in words
        vectors = [[float(len(text.split())), 1.0] for text in inputs]
        return httpx.Response(200, json={"model": "m", "embeddings": vectors})

    embedder = embedder_over([handler], embed_batch_tokens=512, embed_concurrency=1)
    lengths = [300, 2, 250, 3, 280, 1, 260, 4]
    texts = [" ".join(["word"] * n) for n in lengths]
    vectors = await embedder.embed_documents(texts)
    assert [int(v[0]) for v in vectors] == lengths
    sent = [len(text.split()) for batch in requests for text in batch]
    assert sent == sorted(lengths)  # shortest first: the short ones share a request
    assert len(requests[0]) >= 4
    await embedder.aclose()


async def test_an_answer_without_embeddings_is_a_clear_failure():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"model": "m"})

    embedder = embedder_over([handler], embed_batch_size=2, max_retries=0)
    with pytest.raises(OllamaFailed, match="without a list of embeddings"):
        await embedder.embed_documents(["a", "b"])
    await embedder.aclose()


async def test_a_request_cancelled_as_a_slot_frees_does_not_take_the_slot():
    # asyncio.wait_for (Python 3.11) returns when its awaitable is done even if the task
    # was cancelled meanwhile: the cancelled request would go on and hold the slot
    embedder = embedder_over([vectors_for], embed_batch_size=1, embed_concurrency=1)
    holder = await embedder._reserve()
    holder.resting_until = time.monotonic() + 30  # so the wait has a deadline
    waiting = asyncio.ensure_future(embedder._reserve())
    await asyncio.sleep(0.05)
    embedder._release(holder)
    waiting.cancel()  # in the same step as the release: both wake the waiting request
    await asyncio.wait([waiting], timeout=2)
    assert waiting.cancelled()
    assert [host.in_flight for host in embedder._hosts] == [0]
    await embedder.aclose()
