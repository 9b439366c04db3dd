"""Bad input gets a specific 400, never a 500 (issue 10, items 7 and 11).

Every search mode must agree: the filter is validated once, before any mode runs.
"""

from __future__ import annotations

import json

import httpx
import pytest

from retrieval.errors import InvalidRequest
from retrieval.filters import MAX_FILTER_KEYS, MetadataFilter
from tests.api.conftest import COLLECTION, QUESTION, FakeUpstream
from tests.fakes import ScriptedChat

MODES = ["dense", "lexical", "hybrid"]
BAD_FILTERS = [
    '{"page": NaN}',
    '{"page": Infinity}',
    '{"score": -Infinity}',
    '{"#document": "x"}',
    '{"$and": "x"}',
    json.dumps({f"k{i}": i for i in range(5000)}),
    json.dumps({"k" * 1000: 1}),
]


@pytest.mark.parametrize("filters", BAD_FILTERS)
def test_parse_refuses(filters: str) -> None:
    with pytest.raises(InvalidRequest):
        MetadataFilter.parse(json.loads(filters))


def test_parse_accepts_up_to_the_key_cap() -> None:
    parsed = MetadataFilter.parse({f"k{i}": i for i in range(MAX_FILTER_KEYS)})
    assert len(parsed.equals) == MAX_FILTER_KEYS


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("filters", BAD_FILTERS)
async def test_every_mode_answers_400(client: httpx.AsyncClient, mode: str, filters: str) -> None:
    body = (
        f'{{"collection": "{COLLECTION}", "query": "support", "mode": "{mode}", '
        f'"filters": {filters}}}'
    )
    response = await client.post(
        "/v1/search", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("option", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("key", ["num_ctx", "temperature", "seed"])
async def test_non_finite_options_are_400(
    client: httpx.AsyncClient, chat: ScriptedChat, option: str, key: str
) -> None:
    body = (
        f'{{"model": "docent/{COLLECTION}", "stream": false, '
        f'"messages": [{{"role": "user", "content": "{QUESTION}"}}], '
        f'"options": {{"{key}": {option}}}}}'
    )
    response = await client.post("/api/chat", content=body)
    assert response.status_code == 400, response.text
    assert "finite" in response.json()["error"]
    assert chat.calls == 0


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"t{i}"} for i in range(n)]


async def test_too_long_a_history_is_400_on_both_facades(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    messages = [*_turns(600), {"role": "user", "content": QUESTION}]
    ollama = await client.post(
        "/api/chat", json={"model": f"docent/{COLLECTION}", "messages": messages, "stream": False}
    )
    assert ollama.status_code == 400
    assert "at most" in ollama.json()["error"]
    openai = await client.post(
        "/v1/chat/completions", json={"model": f"docent/{COLLECTION}", "messages": messages}
    )
    assert openai.status_code == 400
    assert openai.json()["error"]["code"] == "invalid_request"
    assert chat.calls == 0


async def test_a_long_history_within_the_cap_is_answered(client: httpx.AsyncClient) -> None:
    messages = [*_turns(400), {"role": "user", "content": QUESTION}]
    response = await client.post(
        "/api/chat", json={"model": f"docent/{COLLECTION}", "messages": messages, "stream": False}
    )
    assert response.status_code == 200
    assert response.json()["message"]["content"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/embed", {"model": "fake-embed", "input": "a", "options": {"num_ctx": 131072}}),
        ("/api/embed", {"model": "fake-embed:latest", "input": ["a"], "keep_alive": -1}),
        ("/api/embeddings", {"model": "fake-embed", "prompt": "a", "options": {"num_ctx": 99999}}),
        ("/v1/embeddings", {"model": "fake-embed", "input": "a"}),
    ],
)
async def test_embedding_pass_through_uses_docents_own_limits(
    client: httpx.AsyncClient, upstream: FakeUpstream, path: str, body: dict[str, object]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    sent = json.loads(upstream.requests[-1].content)
    assert sent["model"] == "fake-embed"
    assert "options" not in sent
    assert sent["keep_alive"] == "30m"


@pytest.mark.parametrize("path", ["/api/embed", "/api/embeddings", "/v1/embeddings"])
async def test_embedding_with_another_model_never_reaches_ollama(
    client: httpx.AsyncClient, upstream: FakeUpstream, path: str
) -> None:
    field = "prompt" if path == "/api/embeddings" else "input"
    response = await client.post(path, json={"model": "scripted", field: "a"})
    assert response.status_code == 404
    assert upstream.requests == []


async def test_too_many_embedding_inputs_are_400(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    response = await client.post("/api/embed", json={"model": "fake-embed", "input": ["a"] * 1000})
    assert response.status_code == 400
    assert upstream.requests == []
