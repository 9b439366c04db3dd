"""``docent ingest``: a thin command over :func:`ingest.service.ingest_paths`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ingest.pipeline import Ingestor, Progress
from ingest.progress import BarProgress, LineProgress
from ingest.results import IngestReport
from ingest.service import ingest_paths
from retrieval.embedder import OllamaEmbedder
from retrieval.errors import DocentError
from retrieval.settings import get_settings
from retrieval.store import ChunkStore

EXIT_OK = 0
EXIT_FILES_FAILED = 1
EXIT_UNUSABLE = 2


def _summary(report: IngestReport) -> str:
    data = report.to_json()
    files, chunks = data["files"], data["chunks"]
    verb = "would ingest" if report.dry_run else "ingested"
    return (
        f"{verb} {files['ingested']}, unchanged {files['unchanged']}, failed "
        f"{files['failed']}, removed {files['removed']}, skipped {files['skipped']} files; "
        f"chunks +{chunks['added']} -{chunks['removed']}; "
        f"{data['embedding_calls']} embedding calls in {data['seconds']:.1f} s"
    )


async def _ingest(paths: list[Path], workers: int | None, **options: Any) -> IngestReport:
    """Build the parts ``ingest_paths`` takes, run it, close them."""
    settings = get_settings()
    if workers is not None:
        ingest = settings.ingest.model_copy(update={"workers": workers})
        settings = settings.model_copy(update={"ingest": ingest})
    store = await asyncio.to_thread(ChunkStore.from_settings, settings.chroma)
    embedder = OllamaEmbedder(settings.ollama)
    ingestor = Ingestor(store, embedder, settings)
    try:
        return await ingest_paths(ingestor, paths, **options)
    finally:
        ingestor.close()
        await embedder.aclose()
        store.close()


def ingest_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and folders to ingest (folders recursively).")
    ],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Target collection.")
    ] = "default",
    glob: Annotated[
        str | None,
        typer.Option("--glob", help="Only files matching this pattern in folders, e.g. '*.pdf'."),
    ] = None,
    sync: Annotated[
        bool, typer.Option("--sync", help="Also remove documents whose files are gone.")
    ] = False,
    reindex: Annotated[
        bool,
        typer.Option("--reindex", help="Drop the collection and rebuild it (e.g. new model)."),
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="Files read in parallel.")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="I/N: ingest only this share of the files (1-based)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON report at the end (stdout).")
    ] = False,
) -> None:
    """Ingest documents: new and changed files are embedded, unchanged ones skipped.

    Exit status: 0 all files ingested or unchanged; 1 some files failed (the others are
    ingested); 2 bad usage, or Ollama / Chroma unusable.
    """
    lines = sys.stderr if as_json else sys.stdout
    progress: Progress
    bar: BarProgress | None = None
    if lines.isatty():
        bar = BarProgress(Console(file=lines))
        progress = bar
    else:
        progress = LineProgress(lines)
    try:
        if bar is not None:
            bar.__enter__()
        report = asyncio.run(
            _ingest(
                paths,
                workers,
                collection=collection,
                glob=glob,
                sync=sync,
                reindex=reindex,
                dry_run=dry_run,
                shard=shard,
                progress=progress,
            )
        )
    except DocentError as exc:
        if os.environ.get("DOCENT_RAISE_ERRORS"):
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(EXIT_UNUSABLE) from exc
    finally:
        if bar is not None:
            bar.__exit__()
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        print(_summary(report))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FILES_FAILED)


def main() -> None:
    """Run ``ingest_command`` as its own program (``python -m ingest``)."""
    app = typer.Typer(add_completion=False)
    app.command()(ingest_command)
    app()
