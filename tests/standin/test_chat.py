"""Chat and generate: the real SmolLM2-135M through the official clients and raw NDJSON."""

from __future__ import annotations

import json
import time

import httpx
import ollama
import pytest
from langchain_ollama import ChatOllama

GREEDY = {"temperature": 0, "seed": 42, "num_predict": 12}
HELLO = [{"role": "user", "content": "Say hello."}]
FINAL_FIELDS = {
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
    "done_reason",
}


@pytest.fixture(scope="module")
def client(ollama_host: str) -> ollama.Client:
    return ollama.Client(host=ollama_host, timeout=120)


def test_chat_not_streamed(client: ollama.Client, chat_model: str) -> None:
    response = client.chat(chat_model, messages=HELLO, options=GREEDY)
    assert response.done
    assert response.message.role == "assistant"
    assert response.message.content
    assert response.done_reason in {"stop", "length"}
    assert response.eval_count
    assert 0 < response.eval_count <= 12
    assert response.prompt_eval_count
    assert response.prompt_eval_count > 5
    assert response.eval_duration
    assert response.eval_duration > 0


def test_chat_streamed_matches_not_streamed(client: ollama.Client, chat_model: str) -> None:
    whole = client.chat(chat_model, messages=HELLO, options=GREEDY).message.content
    parts = list(client.chat(chat_model, messages=HELLO, options=GREEDY, stream=True))
    assert len(parts) > 2
    assert all(not p.done for p in parts[:-1])
    assert parts[-1].done
    assert "".join(p.message.content or "" for p in parts) == whole


def test_generate_streamed_and_not(client: ollama.Client, chat_model: str) -> None:
    whole = client.generate(chat_model, prompt="Name a colour.", options=GREEDY)
    assert whole.response
    assert whole.context
    assert len(whole.context) > whole.prompt_eval_count // 2
    parts = list(client.generate(chat_model, prompt="Name a colour.", options=GREEDY, stream=True))
    assert "".join(p.response or "" for p in parts) == whole.response
    raw = client.generate(chat_model, prompt="1, 2, 3,", raw=True, options=GREEDY)
    assert raw.response
    assert raw.context is None


def test_ndjson_wire_format(ollama_host: str, chat_model: str) -> None:
    body = {"model": chat_model, "messages": HELLO, "options": GREEDY}
    with httpx.stream("POST", f"{ollama_host}/api/chat", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        objects = [json.loads(line) for line in response.iter_lines() if line]
    first, final = objects[0], objects[-1]
    assert set(first) == {"model", "created_at", "message", "done"}
    assert first["done"] is False
    assert first["message"]["role"] == "assistant"
    assert final["done"] is True
    assert set(final) >= FINAL_FIELDS
    assert final["created_at"].endswith("Z")
    not_streamed = httpx.post(
        f"{ollama_host}/api/generate",
        json={"model": chat_model, "prompt": "Hi", "stream": False, "options": GREEDY},
        timeout=120,
    )
    assert not_streamed.headers["content-type"].startswith("application/json")
    assert FINAL_FIELDS | {"context", "response"} <= set(not_streamed.json())


def test_temperature_zero_with_seed_is_reproducible(client: ollama.Client, chat_model: str) -> None:
    options = {"temperature": 0, "seed": 7, "num_predict": 24}
    first = client.generate(chat_model, prompt="Write a sentence about rivers.", options=options)
    second = client.generate(chat_model, prompt="Write a sentence about rivers.", options=options)
    assert first.response == second.response
    sampled = {"temperature": 0.9, "seed": 7, "num_predict": 24}
    third = client.generate(chat_model, prompt="Write a sentence about rivers.", options=sampled)
    fourth = client.generate(chat_model, prompt="Write a sentence about rivers.", options=sampled)
    assert third.response == fourth.response


def test_num_predict_stops_with_length(client: ollama.Client, chat_model: str) -> None:
    response = client.generate(
        chat_model,
        prompt="Write a long essay about the history of Rome.",
        options={"num_predict": 5, "temperature": 0, "seed": 3},
    )
    assert response.done_reason == "length"
    assert response.eval_count == 5


def test_prompt_over_num_ctx_is_truncated(client: ollama.Client, chat_model: str) -> None:
    long_prompt = " ".join(f"Fact {i}: the sky was blue on day {i}." for i in range(60))
    response = client.generate(
        chat_model,
        prompt=long_prompt + " What colour was the sky?",
        options={"num_ctx": 256, "num_predict": 4, "temperature": 0},
    )
    assert response.prompt_eval_count is not None
    assert 64 < response.prompt_eval_count <= 256


def test_format_json(client: ollama.Client, chat_model: str) -> None:
    response = client.chat(
        chat_model,
        messages=[{"role": "user", "content": "Give a JSON object with a name."}],
        format="json",
        options={"temperature": 0, "num_predict": 40},
    )
    if response.done_reason == "stop":
        json.loads(response.message.content or "")


def test_disconnect_cancels_generation(ollama_host: str, chat_model: str) -> None:
    body = {
        "model": chat_model,
        "prompt": "Tell a very long story about a dragon.",
        "options": {"num_predict": 2000, "temperature": 0.7, "seed": 1},
    }
    with httpx.stream("POST", f"{ollama_host}/api/generate", json=body, timeout=120) as response:
        lines = response.iter_lines()
        for _ in range(3):
            assert json.loads(next(lines))["done"] is False
    started = time.perf_counter()
    quick = httpx.post(
        f"{ollama_host}/api/generate",
        json={"model": chat_model, "prompt": "Hi", "stream": False, "options": GREEDY},
        timeout=120,
    )
    assert quick.status_code == 200
    assert time.perf_counter() - started < 10  # 2000 tokens would take ~40 s


async def test_async_client_chat(ollama_host: str, chat_model: str) -> None:
    client = ollama.AsyncClient(host=ollama_host, timeout=120)
    response = await client.chat(chat_model, messages=HELLO, options=GREEDY)
    assert response.message.content
    pieces = [
        part.message.content
        async for part in await client.chat(chat_model, messages=HELLO, options=GREEDY, stream=True)
    ]
    assert "".join(p or "" for p in pieces) == response.message.content


def test_langchain_chat(ollama_host: str, chat_model: str) -> None:
    llm = ChatOllama(
        model=chat_model,
        base_url=ollama_host,
        temperature=0,
        seed=42,
        num_predict=12,
        validate_model_on_init=True,
    )
    answer = llm.invoke("Say hello.")
    assert isinstance(answer.content, str)
    assert answer.content
    chunks = list(llm.stream("Say hello."))
    assert "".join(str(c.content) for c in chunks) == answer.content


def test_langchain_validates_missing_model(ollama_host: str) -> None:
    with pytest.raises(ValueError, match="ollama pull no-such-model"):
        ChatOllama(model="no-such-model", base_url=ollama_host, validate_model_on_init=True)
