"""Client task prompts, RAG templates, follow-ups, unload, tools and durations on /api/chat."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import COLLECTION, QUESTION
from tests.fakes import EVAL_NS_PER_WORD, PROMPT_EVAL_NS_PER_MESSAGE, FakeEmbedder, ScriptedChat

MODEL = f"docent/{COLLECTION}"
TITLE_TASK = (
    "### Task:\nGenerate a concise title summarizing the chat history.\n### Output:\n"
    'JSON format: { "title": "your concise title here" }\n### Chat History:\n<chat_history>\n'
    f"USER: {QUESTION}\nASSISTANT: Weekdays.\n</chat_history>"
)
RAG_TEMPLATE = (
    "### Task:\nRespond to the user query using the provided context.\n\n<context>\n"
    '<source id="1">The office dog is named Pixel.</source>\n</context>\n\n'
    "How long is the kettle warranty?"
)


def chat_body(*messages: tuple[str, str], **extra: Any) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "messages": [{"role": r, "content": c} for r, c in messages],
        "stream": False,
    }
    return {**body, **extra}


async def test_task_prompt_goes_to_the_chat_model_alone(
    client: httpx.AsyncClient, chat: ScriptedChat, embedder: FakeEmbedder
) -> None:
    chat.enqueue('{ "title": "Support Hours" }')
    embedded = len(embedder.inputs)
    response = await client.post("/api/chat", json=chat_body(("user", TITLE_TASK)))
    assert response.status_code == 200
    assert response.json()["message"]["content"] == '{ "title": "Support Hours" }'
    assert len(embedder.inputs) == embedded  # nothing was searched
    messages = chat.history[-1].messages
    assert [(m.role, m.content) for m in messages] == [("user", TITLE_TASK)]


async def test_streamed_task_has_no_footer(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    chat.enqueue('{ "tags": ["General"] }')
    body = chat_body(("system", "Be brief."), ("user", TITLE_TASK), stream=True)
    response = await client.post("/api/chat", json=body)
    parts = [json.loads(line) for line in response.text.splitlines() if line]
    assert "".join(p["message"]["content"] for p in parts) == '{ "tags": ["General"] }'
    assert [m.role for m in chat.history[-1].messages] == ["system", "user"]


async def test_task_for_an_unknown_collection_is_404(client: httpx.AsyncClient) -> None:
    body = {**chat_body(("user", TITLE_TASK)), "model": "docent/ghost"}
    assert (await client.post("/api/chat", json=body)).status_code == 404


async def test_rag_template_searches_with_the_users_query(
    client: httpx.AsyncClient, chat: ScriptedChat, embedder: FakeEmbedder
) -> None:
    chat.enqueue("Two years [1].")
    response = await client.post("/api/chat", json=chat_body(("user", RAG_TEMPLATE)))
    assert embedder.inputs[-1] == "How long is the kettle warranty?"
    content = response.json()["message"]["content"]
    assert content.startswith("Two years [1].\n\nSources:\n[1] ")
    prompt = chat.history[-1].messages[-1].content
    assert "The office dog is named Pixel." in prompt  # the template reaches the model


async def test_follow_up_searches_with_the_previous_turn(
    client: httpx.AsyncClient, chat: ScriptedChat, embedder: FakeEmbedder
) -> None:
    chat.enqueue("Call 555 [1].")
    follow_up = "And what phone number do I call for it?"
    body = chat_body(("user", QUESTION), ("assistant", "Weekdays."), ("user", follow_up))
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 200
    assert set(embedder.inputs[-2:]) == {follow_up, f"{QUESTION}\n{follow_up}"}


async def test_standalone_question_searches_alone(
    client: httpx.AsyncClient, chat: ScriptedChat, embedder: FakeEmbedder
) -> None:
    body = chat_body(
        ("user", "Hello"), ("assistant", "Hi."), ("user", "How long is the kettle warranty?")
    )
    await client.post("/api/chat", json=body)
    assert embedder.inputs[-1] == "How long is the kettle warranty?"
    assert "Hello\nHow long is the kettle warranty?" not in embedder.inputs


@pytest.mark.parametrize(
    ("keep_alive", "reason"), [(0, "unload"), ("0s", "unload"), ("0", "unload"), ("5m", "load")]
)
async def test_empty_prompt_loads_or_unloads(
    client: httpx.AsyncClient, chat: ScriptedChat, keep_alive: int | str, reason: str
) -> None:
    body = {"model": MODEL, "prompt": "", "keep_alive": keep_alive}
    generated = (await client.post("/api/generate", json=body)).json()
    assert (generated["done"], generated["done_reason"]) == (True, reason)
    chatted = await client.post(
        "/api/chat", json={"model": MODEL, "messages": [], "keep_alive": keep_alive}
    )
    assert chatted.json()["done_reason"] == reason
    assert chatted.json()["message"] == {"role": "assistant", "content": ""}
    assert chat.calls == 0


async def test_tools_are_refused_clearly(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    tool = {"type": "function", "function": {"name": "get_time", "parameters": {}}}
    response = await client.post("/api/chat", json=chat_body(("user", QUESTION), tools=[tool]))
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{MODEL} does not support tools")
    assert chat.calls == 0
    no_tools = await client.post("/api/chat", json=chat_body(("user", QUESTION), tools=[]))
    assert no_tools.status_code == 200


async def test_ollama_durations_come_through(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    chat.enqueue("Monday to Friday [1].")
    final = (await client.post("/api/chat", json=chat_body(("user", QUESTION)))).json()
    assert final["eval_duration"] == EVAL_NS_PER_WORD * 4
    sent = len(chat.history[-1].messages)
    assert final["prompt_eval_duration"] == PROMPT_EVAL_NS_PER_MESSAGE * sent


async def test_earlier_footers_are_not_shown_to_the_model(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    earlier = "Monday to Friday [1].\n\nSources:\n[1] support.md\n[2] faq.md"
    body = chat_body(
        ("user", QUESTION),
        ("assistant", earlier),
        ("user", "Thanks."),
        ("assistant", "You are welcome.\n\nSources: none cited."),
        ("user", "How long is the kettle warranty?"),
    )
    await client.post("/api/chat", json=body)
    contents = [m.content for m in chat.history[-1].messages]
    assert "Monday to Friday [1]." in contents
    assert "You are welcome." in contents
    assert not any("Sources:" in c for c in contents)
