"""``docent check COLLECTION [--repair]``: a thin command over ``check_collection``."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from retrieval.errors import DocentError
from retrieval.settings import get_settings

if TYPE_CHECKING:
    from retrieval.check import CheckReport

EXIT_CLEAN = 0
EXIT_DISAGREES = 1
EXIT_UNUSABLE = 2


def _print(report: CheckReport) -> None:
    for problem in report.problems:
        typer.echo(f"{problem.kind} {problem.subject}: {problem.detail}")
    summary = f"{report.collection}: {report.documents} documents, {report.chunks} chunks"
    if report.clean:
        typer.echo(f"{summary}; records, chunks and derived indexes agree")
    elif report.repaired:
        typer.echo(f"{summary}; repaired {len(report.problems)} disagreements from the chunks")
    else:
        typer.echo(f"{summary}; {len(report.problems)} disagreements (run with --repair)")


def check_command(
    collection: Annotated[str, typer.Argument(help="The collection to check.")],
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix each disagreement from the chunks in Chroma.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
) -> None:
    """Check that a collection's records, chunks and derived indexes agree.

    Exit status: 0 they agree (or were repaired); 1 disagreements found; 2 the store or
    the collection cannot be used.
    """
    from retrieval.check import check_collection  # imports Chroma: not for `docent --help`
    from retrieval.store import ChunkStore

    try:
        store = ChunkStore.from_settings(get_settings().chroma)
        try:
            report = check_collection(store, collection, repair=repair)
        finally:
            store.close()
    except DocentError as exc:
        if os.environ.get("DOCENT_RAISE_ERRORS"):
            raise
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from exc
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print(report)
    raise typer.Exit(EXIT_CLEAN if report.clean or report.repaired else EXIT_DISAGREES)
