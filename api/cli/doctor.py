"""``docent doctor``: print the readiness checks (the same as ``/readyz``) and each fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from retrieval.doctor import Check
    from retrieval.ollama_client import OllamaAdmin
    from retrieval.settings import Settings


async def diagnose(settings: Settings, console: Console, *, pull: bool) -> list[Check]:
    """Run the checks; with ``pull``, pull the missing models and check again."""
    from ingest.runtime import open_runtime
    from retrieval.doctor import missing_models, run_checks

    async with open_runtime(settings, open_store=False) as runtime:
        checks = await run_checks(settings, runtime.ollama)
        if pull and missing_models(checks):
            for model in missing_models(checks):
                await _pull_with_progress(runtime.ollama, model, console)
            checks = await run_checks(settings, runtime.ollama)
    return checks


async def _pull_with_progress(ollama: OllamaAdmin, model: str, console: Console) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from retrieval.errors import DocentError

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
            async for part in ollama.pull(model):
                progress.update(
                    task,
                    description=f"{model}: {part.status}",
                    completed=part.completed or 0,
                    total=part.total,
                )
        except DocentError as exc:
            console.print(f"[red]could not pull {model}[/red]: {exc.message}")
            return
    console.print(f"pulled {model}")


def doctor_command(
    pull: Annotated[
        bool, typer.Option("--pull", help="Pull missing models through Ollama's /api/pull.")
    ] = False,
) -> None:
    """Check Ollama, both models and the Chroma location; print the fix for each failure."""
    import asyncio

    from rich.console import Console

    from retrieval.settings import get_settings

    console = Console(highlight=False)
    checks = asyncio.run(diagnose(get_settings(), console, pull=pull))
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.label}: {check.detail}")
        if check.fix:
            console.print(f"       fix: {check.fix}")
    raise typer.Exit(0 if all(check.ok for check in checks) else 1)
