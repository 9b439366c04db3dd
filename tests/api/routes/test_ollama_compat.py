"""The Ollama-compatible facade, shapes checked over ASGI (real clients: test_clients.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import COLLECTION, QUESTION, FakeUpstream
from tests.fakes import ScriptedChat

MODEL = f"docent/{COLLECTION}"


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


async def test_root_and_version(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert (await client.head("/")).status_code == 200
    version = (await client.get("/api/version")).json()
    assert version["version"].count(".") == 2


async def test_tags_lists_collections_as_models(client: httpx.AsyncClient) -> None:
    models = (await client.get("/api/tags")).json()["models"]
    assert [m["name"] for m in models] == [f"{MODEL}:latest"]
    assert models[0]["details"]["family"] == "docent"
    assert len(models[0]["digest"]) == 64


@pytest.mark.parametrize("name", [MODEL, f"{MODEL}:latest"])
async def test_show_describes_the_collection(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/api/show", json={"model": name})
    assert response.status_code == 200
    show = response.json()
    assert show["capabilities"] == ["completion"]
    assert show["details"]["family"] == "docent"
    assert show["model_info"]["docent.context_length"] == 2048
    assert show["model_info"]["docent.collection"] == COLLECTION


async def test_unknown_model_is_ollama_404(client: httpx.AsyncClient) -> None:
    for path, body in (
        ("/api/show", {"model": "llama3.2"}),
        ("/api/chat", {"model": "docent/ghost", "messages": [{"role": "user", "content": "hi"}]}),
        ("/api/generate", {"model": "docent/ghost", "prompt": "hi"}),
    ):
        response = await client.post(path, json=body)
        assert response.status_code == 404, path
        name = body["model"]
        assert response.json() == {"error": f'model "{name}" not found, try pulling it first'}


async def test_chat_streams_ollama_ndjson_with_footer(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    chat.enqueue("Monday to Friday [1].")
    response = await client.post(
        "/api/chat",
        json={
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Answer in one line."},
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi! Ask me about the docs."},
                {"role": "user", "content": QUESTION},
            ],
            "options": {"temperature": 0, "num_predict": 20, "seed": 3},
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    parts = lines(response)
    assert all(p["model"] == MODEL for p in parts)
    assert [p["done"] for p in parts] == [False] * (len(parts) - 1) + [True]
    text = "".join(p["message"]["content"] for p in parts)
    assert text.startswith("Monday to Friday [1].\n\nSources:\n[1] support.md")
    assert parts[-1]["done_reason"] == "stop"
    assert parts[-1]["eval_count"] == 4
    call = chat.history[-1]
    assert (call.options.temperature, call.options.num_predict, call.options.seed) == (0, 20, 3)
    contents = [m.content for m in call.messages]
    assert any("Hi! Ask me about the docs." in c for c in contents)
    assert any("Answer in one line." in c for c in contents)


async def test_chat_not_streamed_without_footer(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    chat.enqueue("Weekdays.")
    response = await client.post(
        "/api/chat",
        json={
            "model": f"{MODEL}:latest",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": False,
            "options": {"docent_sources": False},
        },
    )
    body = response.json()
    assert body["message"] == {"role": "assistant", "content": "Weekdays."}
    assert body["done"] is True


async def test_generate_streams_response_field(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    chat.enqueue("Two years [1].")
    response = await client.post(
        "/api/generate", json={"model": MODEL, "prompt": "How long is the kettle warranty?"}
    )
    parts = lines(response)
    text = "".join(p["response"] for p in parts)
    assert text.startswith("Two years [1].\n\nSources:\n[1] warranty.md")
    assert parts[-1]["done"] is True


async def test_empty_prompt_loads_without_generating(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    response = await client.post("/api/generate", json={"model": MODEL})
    assert response.json()["done_reason"] == "load"
    assert chat.calls == 0


async def test_bad_option_type_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/chat",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "options": {"temperature": "hot"},
        },
    )
    assert response.status_code == 400
    assert "options.temperature" in response.json()["error"]


async def test_invalid_body_is_422_in_ollama_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"messages": []})
    assert response.status_code == 422
    assert "body.model" in response.json()["error"]


async def test_mid_stream_failure_is_error_line(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    from retrieval.errors import OllamaFailed

    chat.enqueue(OllamaFailed("Ollama answered 500: boom"))
    response = await client.post(
        "/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}
    )
    parts = lines(response)
    assert parts[-1] == {"error": "Ollama answered 500: boom"}


async def test_embed_is_passed_through(client: httpx.AsyncClient, upstream: FakeUpstream) -> None:
    response = await client.post("/api/embed", json={"model": "fake-embed", "input": ["a", "b"]})
    assert response.status_code == 200
    assert len(response.json()["embeddings"]) == 2
    sent = json.loads(upstream.requests[-1].content)
    assert sent == {
        "model": "fake-embed",
        "input": ["a", "b"],
        "truncate": True,
        "keep_alive": "30m",
    }
    calls = len(upstream.requests)
    other = await client.post("/api/embed", json={"model": "nomic", "input": "a"})
    assert other.status_code == 404  # only the configured embedding model, refused here
    assert other.json() == {"error": 'model "nomic" not found, try pulling it first'}
    assert len(upstream.requests) == calls


async def test_embed_with_ollama_down_is_503(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    upstream.down = True
    response = await client.post("/api/embed", json={"model": "fake-embed", "input": "a"})
    assert response.status_code == 503
    assert "ollama serve" in response.json()["error"]
