"""A Chroma server restarted in the middle of a real ``docent ingest``.

Against its own ``chroma run`` (on a free port, restarted on the same port and folder),
``docent ingest`` runs while the server is stopped at a seeded moment (SIGTERM: a restart;
SIGKILL: a crash) and started again a moment later. The ingest must end with a clear
outcome: success (it got through), or files failed / the run stopped with a message
naming Chroma, never a traceback. Then a re-run must leave exactly the collection an
uninterrupted run leaves (records, chunk ids, texts, metadata), and ``docent check`` must
be clean (nothing half-written). The seed and moment are in every assertion message.

Default: 1 restart. ``DOCENT_FULL_SUITE=1``: 4 (both signals, several moments).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from retrieval.errors import ChromaUnavailable
from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore
from tests.conftest import _chroma_executable, _free_port
from tests.ingest.test_cli import env_for, ingest, scifact_corpus
from tests.ingest.test_kill_ingest import SMALL_WAVES, check_report, fast_model

FULL = os.environ.get("DOCENT_FULL_SUITE") == "1"
SEEDS = range(4) if FULL else range(1)


class ChromaServer:
    """``chroma run`` on one port and folder that can be stopped and started again."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [_chroma_executable(), "run", "--path", str(self.path), "--host", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{self.port}/api/v2/heartbeat"
                if httpx.get(url, timeout=2).is_success:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`chroma run` did not start on port {self.port}")
            time.sleep(0.2)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
            self.process = None


@contextmanager
def chroma(path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(path, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


def collection_state(port: int, name: str):
    store = ChunkStore.from_settings(ChromaSettings(host="127.0.0.1", port=port))
    chunks = sorted(
        (c.id, c.text, tuple(sorted(c.metadata.items()))) for c in store.iter_chunks(name)
    )
    docs = sorted((d.source, d.version, d.chunk_count, d.state) for d in store.list_documents(name))
    return chunks, docs


def test_a_chroma_restart_mid_ingest_fails_clearly_and_a_rerun_ends_as_a_clean_run(
    tmp_path, ollama_host, embed_model
):
    model = fast_model(ollama_host, embed_model)
    docs = scifact_corpus(tmp_path / "docs", 12)
    outcomes = []
    with chroma(tmp_path / "chroma-server") as server:
        env = env_for(
            ollama_host,
            model,
            ("127.0.0.1", server.port),
            DOCENT_CHROMA_PATH=str(tmp_path / "local"),
            **SMALL_WAVES,
        )
        started = time.monotonic()
        clean = ingest(env, str(docs), "--collection", "reference")
        uninterrupted = time.monotonic() - started
        assert clean.returncode == 0, clean.stderr
        expected = collection_state(server.port, "reference")
        assert len(expected[1]) == 12

        for seed in SEEDS:
            rng = random.Random(seed)
            name = f"restarted-{seed}"
            moment = round(rng.uniform(0.3, 0.9) * uninterrupted, 2)
            sig = signal.SIGTERM if seed % 2 == 0 else signal.SIGKILL
            process = subprocess.Popen(
                [sys.executable, "-m", "ingest", str(docs), "--collection", name],
                cwd=Path(__file__).resolve().parents[2],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(moment)
            server.stop(sig)
            time.sleep(rng.uniform(0.2, 2.0))
            server.start()
            stdout, stderr = process.communicate(timeout=300)
            label = f"seed {seed}: {sig.name} at {moment} s, ingest exit {process.returncode}"
            assert process.returncode in (0, 1, 2), f"{label}: {stderr}"
            assert "Traceback" not in stderr, f"{label}: {stderr}"
            if process.returncode:
                assert "chroma" in (stdout + stderr).lower(), f"{label}: {stdout}{stderr}"
            rerun = ingest(env, str(docs), "--collection", name)
            assert rerun.returncode == 0, f"{label}: the re-run failed: {rerun.stderr}"
            assert collection_state(server.port, name) == expected, label
            status, report = check_report(env, name)
            assert status == 0, f"{label}: {report}"
            assert report.get("clean") is True, f"{label}: {report}"
            outcomes.append(label)
    print(f"uninterrupted run {uninterrupted:.1f} s;", *outcomes, sep="\n")


def test_every_store_call_on_a_stopped_chroma_server_is_chroma_unavailable(tmp_path):
    with chroma(tmp_path / "chroma-server") as server:
        store = ChunkStore.from_settings(ChromaSettings(host="127.0.0.1", port=server.port))
        store.ensure_collection("kept", "m", 3)
        server.stop()
        calls = {
            "get_collection": lambda: store.get_collection("kept"),
            "list_collections": store.list_collections,
            "list_documents": lambda: store.list_documents("kept"),
            "chunk_count": lambda: store.chunk_count("kept"),
        }
        for name, call in calls.items():
            print(name)  # shown with a failure: which call escaped
            with pytest.raises(ChromaUnavailable, match="not answering"):
                call()
        server.start()
        assert store.get_collection("kept").chunk_count == 0  # and it recovers once back
