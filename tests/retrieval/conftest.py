"""Chroma fixtures: a real ``chroma run`` server for the session, and a ``store`` fixture
parametrized over embedded and server mode so one suite covers both."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore
from tests.conftest import stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chroma_executable() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` command (shipped with chromadb) is not installed")
    return found


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Chroma server: DOCENT_CHROMA_HOST/PORT if set, else ``chroma run``."""
    if os.environ.get("DOCENT_CHROMA_HOST"):
        yield os.environ["DOCENT_CHROMA_HOST"], int(os.environ.get("DOCENT_CHROMA_PORT", "8000"))
        return
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    command = [_chroma_executable(), "run", "--path", str(path), "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`chroma run` did not start on port {port} (exit {process.poll()})")
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        stop(process)


@pytest.fixture(scope="session")
def server_store(chroma_server: tuple[str, int]) -> ChunkStore:
    host, port = chroma_server
    return ChunkStore.from_settings(ChromaSettings(host=host, port=port))


@pytest.fixture(params=["embedded", "server"])
def store_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> ChunkStore:
    """A ChunkStore in embedded (PersistentClient) or server mode."""
    if store_mode == "server":
        server: ChunkStore = request.getfixturevalue("server_store")
        return server
    return ChunkStore.from_settings(ChromaSettings(path=tmp_path / "chroma"))


@pytest.fixture
def collection_name() -> str:
    """A fresh collection name (server-mode stores are shared by the session)."""
    return f"t{uuid.uuid4().hex[:12]}"
