"""The one way every ``docent`` subcommand reports a Docent error."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec

import typer

EXIT_UNUSABLE = 2
"""Exit status for bad usage, or Ollama / Chroma unusable (the message says the fix)."""

P = ParamSpec("P")


def reports_docent_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn a :class:`DocentError` into ``error: <message>`` on stderr and exit status 2.

    With ``DOCENT_RAISE_ERRORS`` set (tests, debugging) the error is raised instead, with
    its traceback.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        from retrieval.errors import DocentError  # not at start-up: see api.cli.installation

        try:
            command(*args, **kwargs)
        except DocentError as exc:
            if os.environ.get("DOCENT_RAISE_ERRORS"):
                raise
            print(f"error: {exc.message}", file=sys.stderr)
            raise typer.Exit(EXIT_UNUSABLE) from exc

    return run
