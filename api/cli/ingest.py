"""``docent ingest``: a thin command over :func:`ingest.service.ingest_paths`."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
    watch: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Ingest ``paths`` with the ingestor of the composition root.

    With ``watch``, it is called with the first run's report, then the folders are kept
    in sync (one line per change on stdout) until interrupted.
    """
    from ingest.digest_cache import digest_cache_folder
    from ingest.reader_server import start_reader_server
    from ingest.scan import start_scan
    from retrieval.settings import get_settings

    settings = get_settings()
    # the files are walked and hashed on the other core while this process imports the
    # rest of Docent; then the readers' fork server imports the readers there while this
    # process opens the store (started together, the three made each other wait)
    scan = start_scan(
        paths,
        glob=glob,
        shard=shard,
        max_file_mb=settings.ingest.max_file_mb,
        digest_cache=digest_cache_folder(settings.chroma.path),
    )
    if scan is not None and not (sync or reindex or dry_run or shard or watch):
        from ingest.unchanged import unchanged_report

        # every file unchanged since the last run: answered without opening Chroma
        unchanged = await unchanged_report(settings, collection, scan, progress)
        if unchanged is not None:
            return unchanged
    from ingest.runtime import open_runtime
    from ingest.service import ingest_paths
    from retrieval.lexical.indexes import bulk_commits

    start_reader_server()

    if workers is not None:
        ingest = settings.ingest.model_copy(update={"workers": workers})
        settings = settings.model_copy(update={"ingest": ingest})
    async with open_runtime(settings) as runtime:
        # nothing searches in this process: its lexical index needs no commit per write
        with bulk_commits(runtime.store.derived):
            report = await ingest_paths(
                runtime.ingestor,
                paths,
                collection=collection,
                glob=glob,
                sync=sync,
                reindex=reindex,
                dry_run=dry_run,
                shard=shard,
                progress=progress,
                bulk=True,  # nothing else waits on this process: large writes are fastest
                scan=scan,
            )
        if watch is not None:
            from ingest.progress import describe
            from ingest.watch import watch_folders

            watch(report)
            await watch_folders(
                runtime.ingestor,
                paths,
                collection=collection,
                glob=glob,
                report=lambda result: print(describe(result), flush=True),
            )
        return report


def check_watch(paths: list[Path], *, reindex: bool, dry_run: bool, shard: str | None) -> None:
    """Refuse ``--watch`` with options it cannot keep, or with files instead of folders."""
    for flag, given in (("--reindex", reindex), ("--dry-run", dry_run), ("--shard", shard)):
        if given:
            raise typer.BadParameter(f"--watch cannot be combined with {flag}.")
    for path in paths:
        if not path.is_dir():
            raise typer.BadParameter(f"Expected folders to watch, got {str(path)!r}.")


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
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Then keep the collection in sync with the folders (new, changed, deleted "
            "and moved files) until Ctrl-C. Refused while `docent serve` holds the store.",
        ),
    ] = False,
) -> None:
    """Ingest documents: new and changed files are embedded, unchanged ones skipped.

    Exit status: 0 all files ingested or unchanged; 1 some files failed (the others are
    ingested); 2 bad usage, or Ollama / Chroma unusable (or, with --watch, the collection
    was deleted); a watch stopped with Ctrl-C exits 0.
    """
    import json

    from api.cli.running import run
    from ingest.progress import progress_display

    if watch:
        check_watch(paths, reindex=reindex, dry_run=dry_run, shard=shard)

    def first_run_done(report: IngestReport) -> None:
        print(json.dumps(report.to_json()) if as_json else summary(report), flush=True)
        print(f"watching {len(paths)} folder(s) for changes (Ctrl-C to stop)", flush=True)

    with progress_display(sys.stderr if as_json else sys.stdout) as progress:
        try:
            report = run(
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
                    watch=first_run_done if watch else None,
                )
            )
        except KeyboardInterrupt:
            if not watch:
                raise
            print("stopped watching", file=sys.stderr)
            raise typer.Exit(EXIT_OK) from None
    print(json.dumps(report.to_json()) if as_json else summary(report))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FILES_FAILED)
