"""``docent check COLLECTION [--repair] [--purge]``: a thin command over ``check_collection``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.errors import reports_docent_errors

if TYPE_CHECKING:
    from retrieval.check import CheckReport

EXIT_CLEAN = 0
EXIT_DISAGREES = 1


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
    if report.deleted_on_disk:
        typer.echo(
            f"{report.deleted_on_disk} deleted chunks' terms are still in the lexical index's"
            " files (erased once a tenth of their segment is deleted; --purge erases them now)"
        )


async def run_check(collection: str, *, repair: bool, purge: bool = False) -> CheckReport:
    """Check ``collection`` in the store of the composition root (its derived indexes too)."""
    import asyncio

    from ingest.runtime import open_runtime
    from retrieval.check import check_collection

    async with open_runtime() as runtime:
        return await asyncio.to_thread(
            check_collection, runtime.store, collection, repair=repair, purge=purge
        )


@reports_docent_errors
def check_command(
    collection: Annotated[str, typer.Argument(help="The collection to check.")],
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix each disagreement from the chunks in Chroma.")
    ] = False,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Erase every deleted chunk's terms from the lexical index's files now "
            "(rewrites each segment holding one, whatever its size).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
) -> None:
    """Check that a collection's records, chunks and derived indexes agree.

    Exit status: 0 they agree (or were repaired); 1 disagreements found; 2 the store or
    the collection cannot be used.
    """
    import asyncio

    report = asyncio.run(run_check(collection, repair=repair, purge=purge))
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print(report)
    raise typer.Exit(EXIT_CLEAN if report.clean or report.repaired else EXIT_DISAGREES)
