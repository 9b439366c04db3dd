"""``docent ask``: stream a grounded answer to the terminal (the lead's root CLI registers it)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, Any

import typer

from retrieval.answer import Answerer, AskRequest
from retrieval.chat import OllamaChat
from retrieval.embedder import OllamaEmbedder
from retrieval.errors import DocentError, InvalidRequest
from retrieval.events import DeltaEvent, DoneEvent, ErrorEvent, SourceRef, SourcesEvent
from retrieval.search import MODES, Searcher
from retrieval.settings import RetrievalMode, Settings, get_settings
from retrieval.store import ChunkStore

EXIT_FAILED = 2


def _mode(value: str | None) -> RetrievalMode | None:
    if value is None:
        return None
    for mode in MODES:
        if mode == value:
            return mode
    raise InvalidRequest(f"Expected --mode to be one of {', '.join(MODES)}, got {value!r}.")


def format_source(source: SourceRef) -> str:
    """``[n] source, p. page (score)`` for the terminal."""
    page = f", p. {source.page}" if source.page else ""
    ocr = " (OCR)" if source.ocr else ""
    return f"[{source.n}] {source.source}{page}{ocr} (score {source.score:.3f})"


async def ask(settings: Settings, request: AskRequest, *, stream_to_stdout: bool) -> dict[str, Any]:
    """Answer ``request`` with Ollama and the configured store; print deltas as they come.

    Returns:
        The aggregated answer: the done event's fields plus ``sources``.

    Raises:
        DocentError: retrieval failed, or the model failed mid-answer.
    """
    store = await asyncio.to_thread(ChunkStore.from_settings, settings.chroma)
    embedder = OllamaEmbedder(settings.ollama)
    chat = OllamaChat(settings.ollama)
    try:
        answerer = Answerer(settings, Searcher(settings, store, embedder), chat)
        prepared = await answerer.prepare(request)
        sources: list[SourceRef] = []
        async for event in prepared.events():
            if isinstance(event, SourcesEvent):
                sources = event.sources
            elif isinstance(event, DeltaEvent):
                if stream_to_stdout:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif isinstance(event, ErrorEvent):
                raise DocentError(event.message)
            elif isinstance(event, DoneEvent):
                return {
                    **event.model_dump(mode="json"),
                    "sources": [s.model_dump() for s in sources],
                }
        raise DocentError("The answer stream ended without a result.")
    finally:
        await chat.aclose()
        await embedder.aclose()


def ask_command(
    question: Annotated[str, typer.Argument(help="The question to answer from your documents.")],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to answer from.")
    ] = "default",
    k: Annotated[
        int | None,
        typer.Option("--k", min=1, max=100, help="Chunks to retrieve (default: settings)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode", help="Retrieval mode: hybrid, dense or lexical (default: settings)."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the final answer object as JSON instead of streaming."),
    ] = False,
) -> None:
    """Answer a question from your documents, citing the sources [n] it used."""
    settings = get_settings()
    try:
        request = AskRequest(question=question, collection=collection, k=k, mode=_mode(mode))
        result = asyncio.run(ask(settings, request, stream_to_stdout=not as_json))
    except DocentError as exc:
        if os.environ.get("DOCENT_RAISE_ERRORS"):
            raise
        if not as_json:
            print(file=sys.stdout)
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED) from exc
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print()
    sources = [SourceRef.model_validate(s) for s in result["sources"]]
    if sources:
        print("\nSources:")
        cited = {c["n"] for c in result["citations"]}
        for source in sources:
            print(("* " if source.n in cited else "  ") + format_source(source))
    if result.get("truncated"):
        print("warning: Ollama truncated the prompt; lower --k or raise num_ctx.", file=sys.stderr)
