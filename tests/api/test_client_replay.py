"""Replay what real clients send against a real ``docent serve`` on loopback.

Every line of ``../shared/datasets/clients/*.ndjson`` (an Ollama REST API guide's examples,
and Open WebUI 0.12.4's requests) is sent verbatim, content type included, with
``{model}`` and ``{embed_model}`` filled in. Each answer must be a 2xx that the official
clients' own response types accept (``ollama`` and ``openai`` SDK models). Open WebUI's
task prompts must cause no retrieval (no embedding call: ``docent_embedding_calls``) and
carry no Sources footer. The Ollama under test is the stand-in (or ``OLLAMA_HOST``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai.types
import openai.types.chat
import pytest
from pydantic import BaseModel

from tests.conftest import stop
from tests.datasets import DATASETS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENTS = DATASETS / "clients"
CORPUS = REPO / "api" / "sample_corpus"
COLLECTION = "sample"
MODEL = f"docent/{COLLECTION}"
TASK = "### Task:"
FOOTER = re.compile(r"\n\nSources:(?: none cited\.|\n\[\d+\] .+)$", re.DOTALL)


@dataclass(frozen=True)
class Recorded:
    what: str
    method: str
    path: str
    content_type: str | None
    body: Any


def recorded(name: str) -> list[Recorded]:
    lines = (CLIENTS / name).read_text(encoding="utf-8").splitlines()
    return [Recorded(**json.loads(line)) for line in lines if line.strip()]


GUIDE = recorded("ollama-api-guide-examples.ndjson")
OPEN_WEBUI = recorded("open-webui-0.12.4.ndjson")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def docent(
    ollama_host: str, embed_model: str, chat_model: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real ``docent serve`` (its own process) with the sample corpus uploaded."""
    folder = tmp_path_factory.mktemp("replay")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(
        OLLAMA_HOST=ollama_host,
        DOCENT_EMBED_MODEL=embed_model,
        DOCENT_CHAT_MODEL=chat_model,
        DOCENT_CHROMA_PATH=str(folder / "chroma"),
        DOCENT_RETRIEVAL_K="2",
        DOCENT_ANSWER_NUM_PREDICT="32",
        DOCENT_ANSWER_MAX_NUM_CTX="2048",
        DOCENT_ANSWER_TEMPERATURE="0",
    )
    port = _free_port()
    docent_command = Path(sys.executable).with_name("docent")
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [str(docent_command), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = (folder / "serve.log").read_text()[-2000:]
                pytest.fail(f"docent serve did not start (exit {process.poll()}): {output}")
            time.sleep(0.2)
        files = [("files", (p.name, p.read_bytes(), "text/plain")) for p in CORPUS.iterdir()]
        documents = f"{url}/v1/collections/{COLLECTION}/documents"
        uploaded = httpx.post(documents, files=files, timeout=300)
        assert uploaded.status_code == 200, uploaded.text
        yield url
    finally:
        stop(process)
        log.close()


def fill(value: Any, embed_model: str) -> Any:
    text = json.dumps(value).replace("{model}", MODEL).replace("{embed_model}", embed_model)
    return json.loads(text)


def send(url: str, request: Recorded, embed_model: str) -> httpx.Response:
    headers = {"Content-Type": request.content_type} if request.content_type else {}
    body = None if request.body is None else json.dumps(fill(request.body, embed_model)).encode()
    return httpx.request(
        request.method, url + request.path, content=body, headers=headers, timeout=600
    )


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def streamed(request: Recorded) -> bool:
    body = request.body or {}
    return bool(body.get("stream", True))


def check_answers(parts: list[dict[str, Any]], shape: type[BaseModel]) -> str:
    """Every object parses as ``shape``; only the last is done, with Ollama's counters."""
    objects = [shape.model_validate(part) for part in parts]
    assert [getattr(o, "done", None) for o in objects] == [False] * (len(objects) - 1) + [True]
    final = parts[-1]
    if final.get("eval_count"):
        # the chat model generated: its own durations come through (clients show tokens/s)
        assert final["eval_duration"] > 0, final
        assert final["prompt_eval_duration"] > 0, final
    key = "message" if shape is ollama.ChatResponse else "response"
    texts = [p[key]["content"] if key == "message" else p[key] for p in parts]
    return "".join(texts)


def check_shape(request: Recorded, response: httpx.Response, embed_model: str) -> str:
    """Assert that the client's own types accept the answer; return its text (if any)."""
    assert 200 <= response.status_code < 300, (request.what, response.status_code, response.text)
    path = request.path
    if path in ("/api/chat", "/api/generate"):
        shape = ollama.ChatResponse if path == "/api/chat" else ollama.GenerateResponse
        if streamed(request) and response.headers["content-type"].startswith("application/x-nd"):
            return check_answers(ndjson(response), shape)
        return check_answers([response.json()], shape)
    if path == "/api/embeddings":
        assert len(ollama.EmbeddingsResponse.model_validate(response.json()).embedding) > 0
    elif path == "/api/tags":
        names = [m.model for m in ollama.ListResponse.model_validate(response.json()).models]
        assert f"{MODEL}:latest" in names
    elif path == "/api/ps":
        running = ollama.ProcessResponse.model_validate(response.json()).models
        assert f"{MODEL}:latest" in [m.model for m in running]
    elif path == "/api/pull":
        parts = ndjson(response) if streamed(request) else [response.json()]
        statuses = [ollama.ProgressResponse.model_validate(p).status for p in parts]
        assert statuses[-1] == "success"
    elif path == "/api/show":
        assert ollama.ShowResponse.model_validate(response.json()).capabilities == ["completion"]
    elif path == "/api/version":
        assert re.fullmatch(r"\d+\.\d+\.\d+", response.json()["version"])
    elif path == "/v1/chat/completions":
        text = response.text
        if text.startswith("data:"):  # streamed SSE
            frames = [f.removeprefix("data: ") for f in text.split("\n\n") if f.strip()]
            assert frames[-1] == "[DONE]"
            chunk_type = openai.types.chat.ChatCompletionChunk
            chunks = [chunk_type.model_validate_json(frame) for frame in frames[:-1]]
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        completion = openai.types.chat.ChatCompletion.model_validate(response.json())
        return completion.choices[0].message.content or ""
    elif path == "/v1/embeddings":
        created = openai.types.CreateEmbeddingResponse.model_validate(response.json())
        assert created.model == embed_model
        assert len(created.data[0].embedding) > 0
    else:
        pytest.fail(f"no shape check for {path}")
    return ""


def embedding_calls(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    match = re.search(r"^docent_embedding_calls(?:_total)? (\S+)$", metrics, re.MULTILINE)
    assert match, "docent_embedding_calls is missing from /metrics"
    return float(match.group(1))


def last_user_message(request: Recorded) -> str:
    messages = (request.body or {}).get("messages") or []
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


@pytest.mark.parametrize("request_", GUIDE, ids=[r.what for r in GUIDE])
def test_guide_example(docent: str, embed_model: str, request_: Recorded) -> None:
    check_shape(request_, send(docent, request_, embed_model), embed_model)


@pytest.mark.parametrize("request_", OPEN_WEBUI, ids=[r.what for r in OPEN_WEBUI])
def test_open_webui_request(docent: str, embed_model: str, request_: Recorded) -> None:
    message = last_user_message(request_)
    task = message.startswith(TASK) and "<context>" not in message
    before = embedding_calls(docent)
    text = check_shape(request_, send(docent, request_, embed_model), embed_model)
    if task:
        assert embedding_calls(docent) == before, "a task prompt caused a retrieval"
        assert not FOOTER.search(text), text
    if request_.what == "generate-unload":
        assert send(docent, request_, embed_model).json()["done_reason"] == "unload"


def test_every_recorded_kind_is_covered() -> None:
    """The fixtures hold what the issue lists (a changed file must not thin the replay)."""
    assert len(GUIDE) == 12
    assert {r.path for r in GUIDE} >= {"/api/embeddings", "/api/pull", "/v1/embeddings"}
    tasks = [r for r in OPEN_WEBUI if last_user_message(r).startswith(TASK)]
    assert len(tasks) == 5
    assert any(r.body and r.body.get("keep_alive") == 0 for r in OPEN_WEBUI)
