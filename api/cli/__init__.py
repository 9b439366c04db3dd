"""The ``docent`` command: one Typer app, one module per subcommand.

Each subcommand parses its arguments and calls the Python API that notebooks use too,
through the composition root (:func:`ingest.runtime.open_runtime`). Start-up stays fast
because the command modules import only ``typer`` at the top: Docent's own modules
(pydantic, chromadb, ollama, ...) are imported when a command runs, not for ``--help``.
A :class:`~retrieval.errors.DocentError` becomes ``error: <message>`` and exit status 2
in one place (:func:`api.cli.errors.reports_docent_errors`).
"""

from __future__ import annotations

import sys

import typer

from api.cli.ask import ask_command
from api.cli.check import check_command
from api.cli.doctor import doctor_command
from api.cli.errors import EXIT_UNUSABLE
from api.cli.evaluate import eval_app
from api.cli.exiting import exit_now
from api.cli.ingest import ingest_command
from api.cli.installation import ForeignPackage, check_own_packages
from api.cli.serve import serve_command

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


app.command("doctor")(doctor_command)
app.command("ingest")(ingest_command)
app.command("ask")(ask_command)
app.command("serve")(serve_command)
app.command("check")(check_command)
app.add_typer(eval_app, name="eval")


def _checked(run: typer.Typer) -> None:
    try:
        check_own_packages()
    except ForeignPackage as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_UNUSABLE) from exc
    try:
        run()  # a Typer app ends by raising SystemExit, even on success
    except SystemExit as end:
        exit_now(end.code)


def main() -> None:
    """Entry point of ``docent`` and ``python -m api.cli``."""
    _checked(app)


def ingest_main() -> None:
    """``python -m ingest``: the ``docent ingest`` command as its own program."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command()(ingest_command)
    _checked(single)
