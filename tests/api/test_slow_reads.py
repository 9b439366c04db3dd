"""Slow file reads leave the rest of the service responsive (issue 10, item 9).

Reads wait for a reader worker in their own threads (``ingest.stages.READ_THREADS``), not
in the default pool every store call shares; here the default pool has two threads and
uploads of files whose reads block would have held both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.app import create_app
from api.services import Services
from ingest.chunking import ChunkingPlan
from ingest.reading import InProcessReader, ReadOutcome
from ingest.runtime import Runtime
from retrieval.ollama_client import OllamaAdmin
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from tests.api.conftest import COLLECTION, DOCS, FakeUpstream
from tests.fakes import FakeEmbedder, ScriptedChat
from tests.stores import fill_store


class GatedReader(InProcessReader):
    """Reads as in-process, after ``gate`` opens (a file that takes long to read)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def read(self, name: str, data: bytes, plan: ChunkingPlan) -> ReadOutcome:
        self.entered.release()
        self.gate.wait(timeout=60)
        return super().read(name, data, plan)


@pytest.fixture
async def gated(
    settings: Settings, embedder: FakeEmbedder, chat: ScriptedChat, upstream: FakeUpstream
) -> AsyncIterator[tuple[Services, GatedReader]]:
    store = ChunkStore.ephemeral()
    await fill_store(store, COLLECTION, DOCS, embedder)
    reader = GatedReader()
    ollama = OllamaAdmin("http://ollama.test", transport=httpx.MockTransport(upstream.handler))
    runtime = Runtime(
        settings, store=store, embedder=embedder, chat=chat, ollama=ollama, reader=reader
    )
    yield Services.from_runtime(runtime), reader
    reader.gate.set()
    await ollama.aclose()
    await runtime.aclose()


async def test_collections_answer_while_reads_wait(
    gated: tuple[Services, GatedReader],
) -> None:
    services, reader = gated
    loop = asyncio.get_running_loop()
    small = ThreadPoolExecutor(max_workers=2)
    loop.set_default_executor(small)
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        files = [
            ("files", (f"slow{i}.md", f"Slow file {i}.".encode(), "text/markdown"))
            for i in range(4)
        ]
        upload = asyncio.create_task(
            http.post(f"/v1/collections/{COLLECTION}/documents", files=files)
        )
        try:
            waiter = ThreadPoolExecutor(max_workers=1)  # not the default pool under test
            for _ in range(2):  # two reads are waiting for the gate
                await loop.run_in_executor(waiter, reader.entered.acquire, True, 30)
            waiter.shutdown()
            async with asyncio.timeout(20):
                listed = await http.get("/v1/collections")
            assert listed.status_code == 200
            async with asyncio.timeout(20):
                ready = await http.get("/readyz")
            workers = [c for c in ready.json()["checks"] if c["name"] == "workers"]
            assert workers[0]["ok"] is True
        finally:
            reader.gate.set()
            uploaded = await upload
            loop.set_default_executor(ThreadPoolExecutor())
            small.shutdown(wait=False)
    assert uploaded.status_code == 200
    assert uploaded.json()["ingested"] == 4
