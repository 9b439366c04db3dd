"""The LangChain retriever and Runnable over fakes (sync and async paths)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from retrieval.answer import NOT_FOUND_ANSWER, Answerer, AskRequest
from retrieval.errors import AnswerFailed, InvalidRequest, OllamaFailed
from retrieval.events import DoneEvent, SourcesEvent
from retrieval.langchain_adapters import DocentAnswerRunnable, DocentRetriever
from retrieval.search import Searcher
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder, ScriptedChat
from tests.stores import Doc, fill_store


@pytest.fixture
async def answerer(tmp_path):
    settings = Settings()
    settings.chroma.path = tmp_path
    store = ChunkStore.ephemeral()
    embedder = FakeEmbedder()
    docs = [
        Doc("a.md", "Tea is brewed at 80 degrees."),
        Doc("b.pdf", "Coffee needs 94 degrees.", 2),
    ]
    await fill_store(store, "default", docs, embedder)
    return Answerer(settings, Searcher(settings, store, embedder), ScriptedChat())


def test_retriever_sync_invoke_returns_documents(answerer):
    retriever = DocentRetriever(searcher=answerer.searcher, k=1, mode="lexical")
    docs = retriever.invoke("coffee temperature")
    assert docs == [
        Document(
            id=docs[0].id,
            page_content="Coffee needs 94 degrees.",
            metadata={**docs[0].metadata},
        )
    ]
    assert docs[0].metadata["source"] == "b.pdf"
    assert docs[0].metadata["page"] == 2
    assert docs[0].metadata["id"] == docs[0].id


async def test_retriever_filters(answerer):
    retriever = DocentRetriever(searcher=answerer.searcher, filters={"source": "a.md"})
    docs = await retriever.ainvoke("degrees")
    assert {d.metadata["source"] for d in docs} == {"a.md"}


def test_runnable_sync_invoke_and_stream(answerer):
    chat = answerer.chat
    chat.enqueue("Brew tea at 80 degrees [1].")
    chat.enqueue("Brew tea at 80 degrees [1].")
    runnable = DocentAnswerRunnable(answerer, mode="lexical")
    assert runnable.invoke("How hot for tea?") == "Brew tea at 80 degrees [1]."
    chunks = list(runnable.stream("How hot for tea?"))
    assert len(chunks) == 6
    assert "".join(chunks) == "Brew tea at 80 degrees [1]."
    assert runnable.invoke("zebra quantum") == NOT_FOUND_ANSWER
    assert chat.calls == 2


async def test_runnable_events_and_errors(answerer):
    runnable = DocentAnswerRunnable(answerer)
    events = [e async for e in runnable.aevents(AskRequest("tea"))]
    assert isinstance(events[0], SourcesEvent)
    assert isinstance(events[-1], DoneEvent)
    answerer.chat.enqueue(OllamaFailed("Ollama at x answered 500: boom"))
    with pytest.raises(AnswerFailed, match="boom") as raised:
        [t async for t in runnable.astream("tea")]
    assert raised.value.code == "ollama_error"
    assert raised.value.http_status == 502
    with pytest.raises(InvalidRequest, match="Expected a question string or an AskRequest"):
        await runnable.ainvoke(42)  # type: ignore[arg-type]


async def test_astream_stopped_early_closes_the_model_stream(answerer):
    chat = answerer.chat
    chat.delay = 0.01
    chat.enqueue("one two three four five six seven eight")
    stream = DocentAnswerRunnable(answerer, mode="lexical").astream("How hot for tea?")
    assert await anext(stream) == "one "
    await stream.aclose()
    assert chat.closed == 1  # at once, not whenever the garbage collector gets to it


async def test_aevents_stopped_early_closes_the_model_stream(answerer):
    chat = answerer.chat
    chat.delay = 0.01
    chat.enqueue("one two three four five six seven eight")
    events = DocentAnswerRunnable(answerer, mode="lexical").aevents("How hot for tea?")
    assert isinstance(await anext(events), SourcesEvent)
    await anext(events)
    await events.aclose()
    assert chat.closed == 1
