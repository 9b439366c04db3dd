"""``docent ingest``: a thin command over :func:`ingest.service.ingest_paths`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.errors import reports_docent_errors

if TYPE_CHECKING:
    from ingest.pipeline import Progress
    from ingest.results import IngestReport

EXIT_OK = 0
EXIT_FILES_FAILED = 1


def summary(report: IngestReport) -> str:
    """One line: files per status, chunks added and removed, embedding calls, time."""
    data = report.to_json()
    files, chunks = data["files"], data["chunks"]
    verb = "would ingest" if report.dry_run else "ingested"
    return (
        f"{verb} {files['ingested']}, unchanged {files['unchanged']}, failed "
        f"{files['failed']}, removed {files['removed']}, skipped {files['skipped']} files; "
        f"chunks +{chunks['added']} -{chunks['removed']}; "
        f"{data['embedding_calls']} embedding calls in {data['seconds']:.1f} s"
    )


async def run_ingest(
    paths: list[Path],
    *,
    collection: str,
    glob: str | None,
    sync: bool,
    reindex: bool,
    dry_run: bool,
    shard: str | None,
    workers: int | None,
    progress: Progress,
) -> IngestReport:
    """Ingest ``paths`` with the ingestor of the composition root."""
    from ingest.runtime import open_runtime
    from ingest.service import ingest_paths
    from retrieval.settings import get_settings

    settings = get_settings()
    if workers is not None:
        ingest = settings.ingest.model_copy(update={"workers": workers})
        settings = settings.model_copy(update={"ingest": ingest})
    async with open_runtime(settings) as runtime:
        return await ingest_paths(
            runtime.ingestor,
            paths,
            collection=collection,
            glob=glob,
            sync=sync,
            reindex=reindex,
            dry_run=dry_run,
            shard=shard,
            progress=progress,
        )


@reports_docent_errors
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
    import asyncio
    import json

    from ingest.progress import progress_display

    with progress_display(sys.stderr if as_json else sys.stdout) as progress:
        report = asyncio.run(
            run_ingest(
                paths,
                workers=workers,
                collection=collection,
                glob=glob,
                sync=sync,
                reindex=reindex,
                dry_run=dry_run,
                shard=shard,
                progress=progress,
            )
        )
    print(json.dumps(report.to_json()) if as_json else summary(report))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FILES_FAILED)
