"""The ``docent`` command.

A thin shell over the Python API: each subcommand parses its arguments and calls one
function that notebooks can call too.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import ollama
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from api.serve import serve_command
from ingest.cli import ingest_command
from ingest.eval_beir import eval_retrieval_command
from retrieval.check_cli import check_command
from retrieval.cli import ask_command
from retrieval.doctor import missing_models, pull_model, run_checks
from retrieval.settings import Settings, get_settings

app = typer.Typer(
    name="docent",
    help="Docent: ask questions about your documents, answered by a local Ollama model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Docent: ask questions about your documents, answered by a local Ollama model."""


@app.command("doctor")
def doctor_command(
    pull: Annotated[
        bool, typer.Option("--pull", help="Pull missing models through Ollama's /api/pull.")
    ] = False,
) -> None:
    """Check Ollama, both models and the Chroma location; print the fix for each failure."""
    settings = get_settings()
    console = Console(highlight=False)
    checks = run_checks(settings)
    if pull:
        for model in missing_models(checks, settings):
            _pull_with_progress(settings, model, console)
        checks = run_checks(settings)
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.detail}")
        if check.fix:
            console.print(f"       fix: {check.fix}")
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)


def _pull_with_progress(settings: Settings, model: str, console: Console) -> None:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"pulling {model}", total=None)
        try:
            for part in pull_model(settings, model):
                progress.update(
                    task,
                    description=f"{model}: {part.status}",
                    completed=part.completed or 0,
                    total=part.total,
                )
        except (ollama.ResponseError, httpx.HTTPError) as exc:
            console.print(f"[red]could not pull {model}[/red]: {exc}")
            return
    console.print(f"pulled {model}")


app.command("ingest")(ingest_command)
app.command("ask")(ask_command)
app.command("serve")(serve_command)
app.command("check")(check_command)
eval_app = typer.Typer(help="Measure Docent's quality.", no_args_is_help=True)
eval_app.command("retrieval")(eval_retrieval_command)
app.add_typer(eval_app, name="eval")


def main() -> None:
    """Entry point for ``python -m api.cli``."""
    app()


if __name__ == "__main__":
    main()
