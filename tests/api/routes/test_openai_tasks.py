"""Task prompts and tools on /v1/chat/completions (Open WebUI over its OpenAI connection)."""

from __future__ import annotations

import httpx

from tests.api.conftest import COLLECTION, QUESTION
from tests.api.routes.test_ollama_tasks import TITLE_TASK
from tests.fakes import FakeEmbedder, ScriptedChat

MODEL = f"docent/{COLLECTION}"


async def test_task_prompt_has_no_retrieval_and_no_footer(
    client: httpx.AsyncClient, chat: ScriptedChat, embedder: FakeEmbedder
) -> None:
    chat.enqueue('{ "title": "Support Hours" }')
    embedded = len(embedder.inputs)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": TITLE_TASK}]},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == '{ "title": "Support Hours" }'
    assert len(embedder.inputs) == embedded


async def test_tools_are_refused_in_openai_shape(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    tool = {"type": "function", "function": {"name": "get_time", "parameters": {}}}
    response = await client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "tools": [tool]},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("tools_unsupported", "invalid_request_error")
    assert error["message"].startswith(f"{MODEL} does not support tools")
    assert chat.calls == 0
