"""End to end with real models: Docent served by uvicorn (its own lifespan builds the
real Ollama and Chroma clients) in front of the Ollama under test (the stand-in with
all-minilm and smollm2:135m, or OLLAMA_HOST). The sample corpus is uploaded over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from api.app import create_app
from api.services import Services
from ingest.reading import InProcessReader
from ingest.runtime import Runtime
from retrieval.chat import OllamaChat
from retrieval.embedder import OllamaEmbedder
from retrieval.ollama_client import OllamaAdmin
from retrieval.settings import (
    AnswerSettings,
    ChromaSettings,
    OllamaSettings,
    RetrievalSettings,
    Settings,
)
from retrieval.store import ChunkStore
from retrieval.types import ChatDelta, ModelInfo
from tests.api.server import serve

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[2] / "api" / "sample_corpus"
MODEL = "docent/sample"
SUPPORT_QUESTION = "When is the customer support line open?"


@pytest.fixture(scope="module")
def docent(
    ollama_host: str, embed_model: str, chat_model: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    settings = Settings(
        ollama=OllamaSettings(host=ollama_host, embed_model=embed_model, chat_model=chat_model),
        chroma=ChromaSettings(path=tmp_path_factory.mktemp("e2e") / "chroma"),
        retrieval=RetrievalSettings(mode="hybrid", k=2),
        answer=AnswerSettings(num_predict=48, temperature=0, max_num_ctx=2048),
    )
    with serve(create_app(settings)) as url:
        files = [
            ("files", (p.name, p.read_bytes(), "text/plain")) for p in sorted(CORPUS.iterdir())
        ]
        response = httpx.post(f"{url}/v1/collections/sample/documents", files=files, timeout=300)
        assert response.status_code == 200, response.text
        assert response.json()["ingested"] == 4
        yield url


def test_ready(docent: str) -> None:
    response = httpx.get(f"{docent}/readyz", timeout=30)
    assert response.status_code == 200, response.text


def test_search_finds_support_hours(docent: str) -> None:
    response = httpx.post(
        f"{docent}/v1/search",
        json={"query": SUPPORT_QUESTION, "collection": "sample", "k": 1},
        timeout=60,
    )
    assert response.json()["data"][0]["source"] == "support.md"


def test_ollama_client_gets_grounded_answer(docent: str) -> None:
    client = ollama.Client(host=docent, timeout=300)
    answer = client.chat(
        model=MODEL,
        messages=[{"role": "user", "content": SUPPORT_QUESTION}],
        options={"temperature": 0, "seed": 1, "num_predict": 40},
    )
    content = answer.message.content or ""
    assert "Monday" in content or "08:00" in content, content
    body, _, footer = content.partition("\n\nSources:")
    # the footer lists what the answer cites (smollm2 rarely cites), or says it cites nothing
    assert footer == ("\n[1] support.md" if "[1]" in body else " none cited."), content
    assert answer.eval_count is not None
    assert 0 < answer.eval_count <= 40
    # Ollama's own durations come through (clients compute tokens/s from them)
    assert (answer.eval_duration or 0) > 0
    assert (answer.prompt_eval_duration or 0) > 0


class RecordingChat:
    """Wraps the real :class:`OllamaChat`; counts streams closed before their end."""

    def __init__(self, inner: OllamaChat) -> None:
        self.inner = inner
        self.closed_early = 0
        self.deltas = 0

    @property
    def model(self) -> str:
        return self.inner.model

    async def info(self) -> ModelInfo:
        return await self.inner.info()

    async def stream(self, messages, options):
        finished = False
        try:
            async for item in self.inner.stream(messages, options):
                if isinstance(item, ChatDelta):
                    self.deltas += 1
                yield item
            finished = True
        finally:
            if not finished:
                self.closed_early += 1


def test_disconnect_stops_real_generation(
    ollama_host: str, embed_model: str, chat_model: str, tmp_path: Path
) -> None:
    settings = Settings(
        ollama=OllamaSettings(host=ollama_host, embed_model=embed_model, chat_model=chat_model),
        chroma=ChromaSettings(path=tmp_path / "chroma"),
        retrieval=RetrievalSettings(mode="dense", k=1),
        answer=AnswerSettings(temperature=0.8, max_num_ctx=2048),
    )
    store = ChunkStore.ephemeral()
    embedder = OllamaEmbedder(settings.ollama)
    chat = RecordingChat(OllamaChat(settings.ollama))
    runtime = Runtime(
        settings,
        store=store,
        embedder=embedder,
        chat=chat,
        ollama=OllamaAdmin(settings.ollama.base_url),
        reader=InProcessReader(),
    )
    services = Services.from_runtime(runtime)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Describe every product in great detail."}],
        "options": {"num_predict": 1500},
    }
    with serve(create_app(services=services)) as url:
        files = [
            ("files", (p.name, p.read_bytes(), "text/plain")) for p in sorted(CORPUS.iterdir())
        ]
        uploaded = httpx.post(f"{url}/v1/collections/sample/documents", files=files, timeout=300)
        assert uploaded.json()["ingested"] == 4
        with httpx.stream("POST", f"{url}/api/chat", json=body, timeout=300) as response:
            assert response.status_code == 200, response.read()
            for count, _ in enumerate(response.iter_lines(), start=1):
                if count == 3:
                    break
        deadline = time.monotonic() + 10
        while chat.closed_early == 0 or services.limiter.active:
            assert time.monotonic() < deadline, "the upstream stream was not closed"
            time.sleep(0.05)
        deltas_at_close = chat.deltas
        time.sleep(1.0)
        assert chat.deltas == deltas_at_close  # nothing more arrives from Ollama
        assert deltas_at_close < 100
