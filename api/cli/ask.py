"""``docent ask``: stream a grounded answer to the terminal, then its sources."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.errors import reports_docent_errors

if TYPE_CHECKING:
    from retrieval.answer import AskRequest
    from retrieval.events import SourceRef
    from retrieval.settings import Settings
    from retrieval.stream import CollectedAnswer


def format_source(source: SourceRef) -> str:
    """``[n] source, p. page (score)`` for the terminal."""
    page = f", p. {source.page}" if source.page else ""
    ocr = " (OCR)" if source.ocr else ""
    return f"[{source.n}] {source.source}{page}{ocr} (score {source.score:.3f})"


def _print_delta(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def ask(
    settings: Settings, request: AskRequest, *, stream_to_stdout: bool
) -> CollectedAnswer:
    """Answer ``request`` with the parts of the composition root; print deltas as they come.

    Raises:
        DocentError: retrieval failed, or the model failed mid-answer (``AnswerFailed``).
    """
    from ingest.runtime import open_runtime
    from retrieval.stream import collect

    async with open_runtime(settings) as runtime:
        prepared = await runtime.answerer.prepare(request)
        return await collect(
            prepared.events(),
            sources=prepared.sources,
            on_delta=_print_delta if stream_to_stdout else None,
        )


def _print_sources(answer: CollectedAnswer) -> None:
    if answer.sources:
        print("\nSources:")
        cited = {citation.n for citation in answer.done.citations}
        for source in answer.sources:
            print(("* " if source.n in cited else "  ") + format_source(source))
    if answer.done.truncated:
        print("warning: Ollama truncated the prompt; lower --k or raise num_ctx.", file=sys.stderr)


@reports_docent_errors
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
    import asyncio
    import json

    from api.cli.options import parse_mode
    from retrieval.answer import AskRequest
    from retrieval.settings import get_settings

    try:
        request = AskRequest(question=question, collection=collection, k=k, mode=parse_mode(mode))
        answer = asyncio.run(ask(get_settings(), request, stream_to_stdout=not as_json))
    finally:
        if not as_json:
            print()  # ends the streamed text (or the line before an error)
    if as_json:
        result = {
            **answer.done.model_dump(mode="json"),
            "sources": [source.model_dump() for source in answer.sources],
        }
        print(json.dumps(result, ensure_ascii=False))
        return
    _print_sources(answer)
