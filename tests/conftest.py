"""The fixtures every test package shares (the one place for them).

- An Ollama server (real, or the stand-in) to talk to: set ``OLLAMA_HOST`` to test against
  a running Ollama; otherwise ``python -m standin`` is started on a free port for the
  session. ``DOCENT_TEST_EMBED_MODEL`` / ``DOCENT_TEST_CHAT_MODEL`` pick other models.
- Chroma: a real ``chroma run`` server for the session, and a ``store`` fixture
  parametrized over embedded and server mode so one suite covers both.

Fakes are in :mod:`tests.fakes`, store helpers in :mod:`tests.stores`, the shared data
sets' paths in :mod:`tests.datasets`; package conftests add only their own fixtures.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore

REPO = Path(__file__).resolve().parents[1]
STANDIN_SERVER_HEADER = "docent-standin"


def normalise_host(value: str) -> str:
    """``host``, ``host:port`` or a URL, normalised as the ollama client does (port 11434)."""
    scheme, _, hostport = value.partition("://")
    port = 11434
    if not hostport:
        scheme, hostport = "http", value
    elif scheme in ("http", "https"):
        port = 80 if scheme == "http" else 443
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    path = split.path.strip("/")
    base = f"{scheme}://{host}:{split.port or port}"
    return f"{base}/{path}" if path else base


def start_standin(*flags: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m standin`` on a free port; return (process, base URL)."""
    command = [sys.executable, "-m", "standin", "--host", "127.0.0.1", "--port", "0"]
    command += ["--exit-with-stdin", *flags]
    process = subprocess.Popen(
        command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60)
    except queue.Empty:
        stop(process)
        pytest.fail("the stand-in did not announce its port within 60 s")
    prefix = "standin listening on "
    if not line.startswith(prefix):
        stop(process)
        pytest.fail(f"the stand-in did not start (exit {process.poll()}): {line!r}")
    return process, line[len(prefix) :].strip()


def stop(process: subprocess.Popen[str]) -> None:
    """Terminate a server process and reap it."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


@pytest.fixture(scope="session", autouse=True)
def _embed_tuning_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Embedding plans learnt during the tests stay in the session's own folder.

    Set in the environment so that servers and CLI runs started by the tests inherit it.
    """
    previous = os.environ.get("DOCENT_EMBED_TUNING_FILE")
    path = tmp_path_factory.mktemp("embed-tuning") / "embed-tuning.json"
    os.environ["DOCENT_EMBED_TUNING_FILE"] = str(path)
    yield
    if previous is None:
        os.environ.pop("DOCENT_EMBED_TUNING_FILE", None)
    else:
        os.environ["DOCENT_EMBED_TUNING_FILE"] = previous


@pytest.fixture(scope="session")
def embed_model() -> str:
    return os.environ.get("DOCENT_TEST_EMBED_MODEL", "all-minilm")


@pytest.fixture(scope="session")
def chat_model() -> str:
    return os.environ.get("DOCENT_TEST_CHAT_MODEL", "smollm2:135m")


def _has_model(names: list[str], wanted: str) -> bool:
    full = wanted if ":" in wanted else f"{wanted}:latest"
    return full in names or wanted in names


@pytest.fixture(scope="session")
def ollama_host(embed_model: str, chat_model: str) -> Iterator[str]:
    """Base URL of the Ollama server under test, checked to have both test models."""
    process = None
    if os.environ.get("OLLAMA_HOST"):
        host = normalise_host(os.environ["OLLAMA_HOST"])
    else:
        process, host = start_standin()
    try:
        response = httpx.get(f"{host}/api/tags", timeout=30)
        response.raise_for_status()
        names = [m["model"] for m in response.json()["models"]]
        for wanted in (embed_model, chat_model):
            if not _has_model(names, wanted):
                pytest.fail(f"{host} lacks model {wanted!r}: run `ollama pull {wanted}`")
        yield host
    finally:
        if process is not None:
            stop(process)


@pytest.fixture(scope="session")
def standin_factory(ollama_host: str) -> Iterator[Callable[..., str]]:
    """Start extra stand-ins with extra flags (fault tests); skipped against a real Ollama."""
    server = httpx.get(f"{ollama_host}/", timeout=10).headers.get("server", "")
    if os.environ.get("OLLAMA_HOST") and not server.startswith(STANDIN_SERVER_HEADER):
        pytest.skip("OLLAMA_HOST is a real Ollama: stand-in fault injection does not apply")
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> str:
        process, host = start_standin(*flags)
        processes.append(process)
        return host

    yield start
    for process in processes:
        stop(process)


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
