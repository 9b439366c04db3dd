"""/metrics: Prometheus text with requests, latencies, tokens, embedding calls, chunks."""

from __future__ import annotations

import httpx

from tests.api.conftest import COLLECTION, QUESTION
from tests.fakes import ScriptedChat


def sample(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert lines, f"no sample {prefix!r}"
    return float(lines[0].rsplit(" ", 1)[1])


async def test_metrics_count_requests_tokens_embeddings_chunks(
    client: httpx.AsyncClient, chat: ScriptedChat
) -> None:
    chat.enqueue("Weekdays from eight to five.")
    await client.post(
        "/v1/query", json={"question": QUESTION, "collection": COLLECTION, "stream": False}
    )
    files = [("files", ("a.txt", b"Opening hours are nine to five.", "text/plain"))]
    await client.post(f"/v1/collections/{COLLECTION}/documents", files=files)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        sample(text, 'docent_http_requests_total{method="POST",route="/v1/query",status="200"}')
        == 1
    )
    assert (
        sample(text, 'docent_http_request_duration_seconds_count{method="POST",route="/v1/query"}')
        == 1
    )
    assert sample(text, 'docent_answer_tokens_total{kind="completion"}') == 5
    assert sample(text, "docent_embedding_calls_total") >= 3
    assert sample(text, "docent_ingested_chunks_total") == 1
    assert sample(text, 'docent_ingested_files_total{status="ingested"}') == 1
    assert sample(text, "docent_generations_active") == 0


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    # a client may send any method token: each must not grow a new time series
    for method in ("FOO1", "FOO2"):
        await client.request(method, "/nowhere")
    text = (await client.get("/metrics")).text
    assert "FOO1" not in text
    assert (
        sample(text, 'docent_http_requests_total{method="other",route="unmatched",status="404"}')
        == 2
    )
