"""The composition root: what it builds, what it borrows, what it closes (once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.runtime import Runtime, open_runtime
from retrieval.chat import OllamaChat
from retrieval.embedder import OllamaEmbedder
from retrieval.errors import ChromaUnavailable
from retrieval.ollama_client import OllamaAdmin
from retrieval.settings import ChromaSettings, OllamaSettings, Settings
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder, ScriptedChat
from tests.stores import Doc, fill_store


def settings_at(path: Path) -> Settings:
    return Settings(
        ollama=OllamaSettings(host="127.0.0.1:9", embed_model="fake-embed", chat_model="scripted"),
        chroma=ChromaSettings(path=path),
    )


async def test_builds_every_part_from_the_settings_and_closes_what_it_built(tmp_path: Path):
    async with open_runtime(settings_at(tmp_path / "chroma")) as runtime:
        assert isinstance(runtime.embedder, OllamaEmbedder)
        assert isinstance(runtime.chat, OllamaChat)
        assert runtime.store.persist_dir == tmp_path / "chroma"
        assert runtime.answerer.searcher is runtime.searcher
        assert runtime.answerer.chat is runtime.chat
        http = runtime.ollama.http
        assert not http.is_closed
    assert http.is_closed


async def test_borrowed_parts_are_used_as_given_and_left_open(tmp_path: Path):
    store, embedder, chat = ChunkStore.ephemeral(), FakeEmbedder(), ScriptedChat()
    ollama = OllamaAdmin("http://127.0.0.1:9")
    async with open_runtime(
        settings_at(tmp_path), store=store, embedder=embedder, chat=chat, ollama=ollama
    ) as runtime:
        assert (runtime.store, runtime.embedder, runtime.chat) == (store, embedder, chat)
    assert not ollama.http.is_closed
    await ollama.aclose()


async def test_the_ingestor_is_built_on_first_use_and_closed_once(tmp_path: Path):
    runtime = Runtime(
        settings_at(tmp_path),
        store=ChunkStore.ephemeral(),
        embedder=FakeEmbedder(),
        chat=ScriptedChat(),
        ollama=OllamaAdmin("http://127.0.0.1:9"),
    )
    assert "ingestor" not in vars(runtime)
    ingestor = runtime.ingestor
    assert isinstance(ingestor, Ingestor)
    assert runtime.ingestor is ingestor
    closed: list[str] = []
    runtime.own(lambda: _record(closed, "last owned"))
    await runtime.aclose()
    await runtime.aclose()
    assert closed == ["last owned"]
    await runtime.ollama.aclose()


async def _record(closed: list[str], name: str) -> None:
    closed.append(name)


async def test_without_a_store_only_the_store_is_refused(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    async with open_runtime(settings_at(blocker / "chroma"), open_store=False) as runtime:
        assert runtime.ollama.url == "http://127.0.0.1:9"
        with pytest.raises(RuntimeError, match="without a store"):
            _ = runtime.store


async def test_an_unusable_chroma_fails_to_open(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ChromaUnavailable):
        async with open_runtime(settings_at(blocker / "chroma")):
            pass


async def test_langchain_adapters_come_from_the_runtime(tmp_path: Path):
    store, embedder, chat = ChunkStore.ephemeral(), FakeEmbedder(), ScriptedChat()
    await fill_store(
        store, "docs", [Doc("kettle.md", "The kettle has a two year warranty.")], embedder
    )
    chat.enqueue("Two years [1].")
    async with open_runtime(
        settings_at(tmp_path),
        store=store,
        embedder=embedder,
        chat=chat,
        reader=InProcessReader(),
    ) as runtime:
        retriever = runtime.retriever(collection="docs", k=1, mode="dense")
        (document,) = await retriever.ainvoke("kettle warranty")
        answer = await runtime.answer_runnable(collection="docs", k=1, mode="dense").ainvoke(
            "How long is the kettle warranty?"
        )
    assert document.metadata["source"] == "kettle.md"
    assert answer == "Two years [1]."
