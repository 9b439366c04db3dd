"""``docent serve`` freezes its start-up heap once ready (:mod:`api.heap`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

import api.app as app_module
from api.app import create_app
from api.cli.serve import serve_command
from retrieval.settings import ChromaSettings, OllamaSettings, Settings, get_settings

REPO = Path(__file__).resolve().parents[2]

FREEZE_THEN_COLLECT = """
import gc
from api.heap import freeze_startup_heap

class Node:
    pass

alive = [Node() for _ in range(1000)]
frozen = freeze_startup_heap()
assert frozen >= 1000, frozen
pair = [Node(), Node()]
pair[0].other, pair[1].other = pair[1], pair[0]  # a cycle made after the freeze
del pair
assert gc.collect() >= 2, "a cycle made after the freeze must still be collected"
assert gc.get_freeze_count() == frozen
"""


def test_freezing_keeps_what_is_alive_and_later_garbage_is_still_collected() -> None:
    # in a process of its own: freezing this one would keep the test session's objects
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_THEN_COLLECT],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("freeze_heap", [True, False])
def test_the_lifespan_freezes_only_when_asked(
    freeze_heap: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[None] = []
    monkeypatch.setattr(app_module, "freeze_startup_heap", lambda: calls.append(None) or 0)
    settings = Settings(
        ollama=OllamaSettings(host="http://127.0.0.1:9"),  # never reached at start-up
        chroma=ChromaSettings(path=tmp_path / "chroma"),
    )
    app = create_app(settings, freeze_heap=freeze_heap)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/healthz").status_code == 200
        assert len(calls) == (1 if freeze_heap else 0)


def test_docent_serve_runs_the_app_that_freezes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, bool]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: ran.append((target, kw["factory"])))
    monkeypatch.setenv("DOCENT_CHROMA_PATH", str(tmp_path / "chroma"))
    get_settings.cache_clear()
    try:
        serve_command(host="127.0.0.1", port=0)
    finally:
        get_settings.cache_clear()
    assert ran == [("api.app:create_served_app", True)]
    built: list[dict[str, object]] = []
    monkeypatch.setattr(app_module, "create_app", lambda **kw: built.append(kw))
    app_module.create_served_app()
    assert built == [{"freeze_heap": True}]
