"""Real clients against a real server on loopback: the official ``ollama`` client (sync,
async, streamed), ``langchain_ollama.ChatOllama``, the ``openai`` SDK and httpx, with
auth on. The models behind are fakes (ScriptedChat, FakeEmbedder) for speed; the
end-to-end run with real models is in test_e2e_standin.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
import openai
import pytest
from langchain_ollama import ChatOllama

from api.app import create_app
from api.services import Services
from retrieval.store import ChunkStore
from tests.api.conftest import COLLECTION, DOCS, QUESTION, FakeUpstream, fake_runtime, make_settings
from tests.api.server import serve
from tests.fakes import FakeEmbedder, ScriptedChat
from tests.stores import fill_store

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = f"docent/{COLLECTION}"


@dataclass
class Running:
    url: str
    chat: ScriptedChat
    services: Services


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    settings = make_settings(
        tmp_path_factory.mktemp("clients"),
        api_keys=[KEY],
        max_concurrent_generations=2,
        max_queued_generations=4,
    )
    embedder, chat, upstream = FakeEmbedder(), ScriptedChat(delay=0.0), FakeUpstream()
    store = ChunkStore.ephemeral()
    asyncio.run(fill_store(store, COLLECTION, DOCS, embedder))
    services = Services.from_runtime(fake_runtime(settings, store, embedder, chat, upstream))
    with serve(create_app(services=services)) as url:
        yield Running(url, chat, services)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- ollama --------------------------------------------------------------------------


def test_ollama_sync_client(running: Running) -> None:
    client = ollama.Client(host=running.url, headers=AUTH)
    assert f"{MODEL}:latest" in [m.model for m in client.list().models]
    show = client.show(MODEL)
    assert show.capabilities == ["completion"]
    assert show.details is not None
    assert show.details.family == "docent"
    running.chat.enqueue("Monday to Friday, 08:00 to 17:00 CET [1].")
    answer = client.chat(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=False
    )
    assert answer.message.content is not None
    assert answer.message.content.startswith("Monday to Friday, 08:00 to 17:00 CET [1].")
    assert "Sources:\n[1] support.md" in answer.message.content
    assert answer.done is True
    running.chat.enqueue("Two years.")
    generated = client.generate(
        model=MODEL, prompt="How long is the warranty?", options={"docent_sources": False}
    )
    assert generated.response == "Two years."
    embedded = client.embed(model="fake-embed", input=["a", "b"])
    assert len(embedded.embeddings) == 2


def test_ollama_streamed_and_errors(running: Running) -> None:
    client = ollama.Client(host=running.url, headers=AUTH)
    running.chat.enqueue("On weekdays.")
    parts = list(
        client.chat(model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    assert parts[-1].done is True
    assert "".join(p.message.content or "" for p in parts).startswith("On weekdays.\n\nSources:")
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="docent/ghost", messages=[{"role": "user", "content": "x"}])
    assert missing.value.status_code == 404
    assert missing.value.error == 'model "docent/ghost" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError) as unauthorized:
        ollama.Client(host=running.url).list()
    assert unauthorized.value.status_code == 401


async def test_ollama_async_client_streamed(running: Running) -> None:
    client = ollama.AsyncClient(host=running.url, headers=AUTH)
    running.chat.enqueue("Open weekdays [1].")
    stream = await client.chat(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text = "".join([part.message.content or "" async for part in stream])
    assert text.startswith("Open weekdays [1].\n\nSources:\n[1] support.md")


def test_langchain_chat_ollama(running: Running) -> None:
    llm = ChatOllama(
        base_url=running.url, model=MODEL, client_kwargs={"headers": AUTH}, temperature=0
    )
    running.chat.enqueue("Monday to Friday.")
    message = llm.invoke(QUESTION)
    assert str(message.content).startswith("Monday to Friday.\n\nSources:")
    assert running.chat.history[-1].options.temperature == 0
    running.chat.enqueue("Two years of warranty.")
    streamed = "".join(str(chunk.content) for chunk in llm.stream("How long is the warranty?"))
    assert streamed.startswith("Two years of warranty.")


# --- openai --------------------------------------------------------------------------


def test_openai_sdk(running: Running) -> None:
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key=KEY)
    assert [m.id for m in client.models.list()] == [MODEL]
    running.chat.enqueue("Weekdays [1].")
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=16
    )
    content = completion.choices[0].message.content or ""
    assert content.startswith("Weekdays [1].\n\nSources:\n[1] support.md")
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2
    running.chat.enqueue("Monday to Friday.")
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"docent_sources": False},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Monday to Friday."
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_openai_sdk_errors(running: Running) -> None:
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="docent/ghost", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.code == "model_not_found"
    bad_key = openai.OpenAI(base_url=f"{running.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.models.list()


# --- native, httpx; disconnect ------------------------------------------------------


def test_httpx_native_stream(running: Running) -> None:
    running.chat.enqueue("Weekdays.")
    with httpx.stream(
        "POST",
        f"{running.url}/v1/query",
        json={"question": QUESTION, "collection": COLLECTION},
        headers=AUTH,
        timeout=30,
    ) as response:
        events = [json.loads(line) for line in response.iter_lines() if line]
    assert [e["type"] for e in events][0 :: len(events) - 1] == ["sources", "done"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/query", {"question": QUESTION, "collection": COLLECTION}),
        ("/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}),
        (
            "/v1/chat/completions",
            {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": QUESTION}]},
        ),
    ],
)
def test_disconnect_cancels_upstream_generation(
    running: Running, path: str, body: dict[str, Any]
) -> None:
    chat = running.chat
    chat.delay = 0.05
    closed_before, calls_before = chat.closed, chat.calls
    chat.enqueue(" ".join(f"word{i}" for i in range(400)))  # 20 s if not cancelled
    try:
        with httpx.stream(
            "POST", f"{running.url}{path}", json=body, headers=AUTH, timeout=30
        ) as response:
            assert response.status_code == 200
            for received, _ in enumerate(response.iter_lines(), start=1):
                if received == 4:
                    break
        wait_until(lambda: chat.closed == closed_before + 1, timeout=5)
        wait_until(lambda: running.services.limiter.active == 0, timeout=5)
    finally:
        chat.delay = 0.0
    assert chat.calls == calls_before + 1
