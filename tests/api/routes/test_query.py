"""POST /v1/query: NDJSON, SSE and whole answers; errors before and after streaming."""

from __future__ import annotations

import json
from typing import Any

import httpx

from api.schemas import AnswerPublic
from retrieval.errors import OllamaUnavailable
from retrieval.events import DoneEvent, SourcesEvent
from tests.api.conftest import COLLECTION, QUESTION
from tests.fakes import ScriptedChat


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


async def test_query_streams_ndjson_events(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    chat.enqueue("Support is open Monday to Friday [1].")
    response = await client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache"
    events = ndjson(response)
    assert next(e["type"] for e in events) == "sources"
    assert events[-1]["type"] == "done"
    assert {e["type"] for e in events[1:-1]} == {"delta"}
    sources = SourcesEvent.model_validate(events[0]).sources
    assert sources[0].source == "support.md"
    done = DoneEvent.model_validate(events[-1])
    assert done.answer == "Support is open Monday to Friday [1]."
    assert "".join(e["text"] for e in events[1:-1]) == done.answer
    assert [c.source for c in done.citations] == ["support.md"]


async def test_query_sse_when_asked(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    chat.enqueue("Weekdays.")
    response = await client.post(
        "/v1/query",
        json={"question": QUESTION, "collection": COLLECTION},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    assert frames[0].startswith("event: sources\ndata: ")
    assert frames[-1].startswith("event: done\ndata: ")
    done = json.loads(frames[-1].split("data: ", 1)[1])
    assert done["answer"] == "Weekdays."


async def test_query_not_streamed(client: httpx.AsyncClient, chat: ScriptedChat) -> None:
    chat.enqueue("From 08:00 to 17:00 CET [1].")
    response = await client.post(
        "/v1/query",
        json={
            "question": QUESTION,
            "collection": COLLECTION,
            "stream": False,
            "options": {"temperature": 0, "seed": 7, "num_predict": 32},
        },
    )
    assert response.status_code == 200
    answer = AnswerPublic.model_validate(response.json())
    assert answer.answer == "From 08:00 to 17:00 CET [1]."
    assert answer.found is True
    assert answer.sources[0].source == "support.md"
    options = chat.history[-1].options
    assert (options.temperature, options.seed, options.num_predict) == (0, 7, 32)


async def test_query_unknown_collection_is_404(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    response = await client.post("/v1/query", json={"question": QUESTION, "collection": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "collection_not_found"
    assert "'nope' does not exist" in response.json()["error"]["message"]
    assert chat.calls == 0


async def test_query_invalid_body_is_422_with_field_paths(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/query", json={"question": "", "k": 0, "mode": "fuzzy"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    locations = {d["loc"] for d in error["details"]}
    assert {"body.question", "body.k", "body.mode"} <= locations
    assert "body.question" in error["message"]


async def test_query_bad_filter_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/query",
        json={"question": QUESTION, "collection": COLLECTION, "filters": {"page_min": "two"}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_query_failure_after_start_is_error_event(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    chat.enqueue(OllamaUnavailable.at("http://127.0.0.1:9"))
    response = await client.post("/v1/query", json={"question": QUESTION, "collection": COLLECTION})
    assert response.status_code == 200
    events = ndjson(response)
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "ollama_unavailable"
    assert "ollama serve" in events[-1]["message"]


async def test_query_failure_not_streamed_keeps_status(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    chat.enqueue(OllamaUnavailable.at("http://127.0.0.1:9"))
    response = await client.post(
        "/v1/query", json={"question": QUESTION, "collection": COLLECTION, "stream": False}
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ollama_unavailable"
