"""The ``docent`` command as a whole: its subcommands, and the start-up guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.options import parse_mode, parse_modes
from retrieval.errors import InvalidRequest
from retrieval.search import MODES

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("doctor", "ingest", "ask", "serve", "eval"):
        assert f" {name} " in result.stdout


def test_modes_are_parsed_in_one_place() -> None:
    assert parse_modes(["lexical", "dense", "lexical"]) == ["lexical", "dense"]
    assert parse_mode(None) is None
    assert parse_mode("hybrid") == "hybrid"
    assert set(parse_modes(list(MODES))) == set(MODES)
    with pytest.raises(InvalidRequest) as raised:
        parse_mode("fuzzy")
    assert (
        raised.value.message == "Expected --mode to be one of dense, lexical, hybrid, got 'fuzzy'."
    )


def test_a_shadowing_package_stops_the_command_with_a_clear_error(tmp_path: Path) -> None:
    shadow = tmp_path / "retrieval"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("VALUE = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "doctor"],
        cwd=tmp_path,  # python -m puts the working directory first on sys.path
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "The top-level package 'retrieval' is not Docent's" in result.stderr
    assert str(shadow / "__init__.py") in result.stderr


def test_serve_runs_the_server_with_a_short_gil_switch_interval(monkeypatch, tmp_path):
    """Worker threads' Python work hands the GIL back to the event loop sooner."""
    import uvicorn

    from api.cli.serve import SWITCH_INTERVAL_S, serve_command
    from retrieval.settings import get_settings

    seen: list[float] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **_k: seen.append(sys.getswitchinterval()))
    monkeypatch.setenv("DOCENT_CHROMA_PATH", str(tmp_path))
    previous = sys.getswitchinterval()
    get_settings.cache_clear()
    try:
        serve_command(host="127.0.0.1", port=0, allow_unauthenticated=False)
    finally:
        sys.setswitchinterval(previous)
        get_settings.cache_clear()
    assert seen == [SWITCH_INTERVAL_S]
    assert previous > SWITCH_INTERVAL_S  # shorter than Python's default (5 ms)
