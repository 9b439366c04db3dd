"""``kill -9`` of a real ``docent ingest`` (embedded Chroma) at seeded random moments.

For each seed, a fresh store goes through several ingests killed at moments drawn from
the length of an uninterrupted run (so start-up, embedding, Chroma writes, the lexical
index's commit and the exit are all hit), some of them over a changed corpus (an
interrupted re-ingest). Then one normal run must leave exactly the index of an
uninterrupted run (records, chunk ids, texts, metadata), and ``docent check COLLECTION
--json`` (a new process: records, chunks and the persisted lexical index) must be clean.
The seed and the kill moments are in every assertion message.

Default: 1 seed x 1 kill (tests/ingest/test_cli.py also kills at 4 fixed points).
``DOCENT_FULL_SUITE=1``: 6 seeds x 3 kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.ingest.test_cli import REPO, env_for, ingest, scifact_corpus, snapshot

FULL = os.environ.get("DOCENT_FULL_SUITE") == "1"
SEEDS, KILLS = (range(6), 3) if FULL else (range(1), 1)
SMALL_WAVES = {"DOCENT_EMBED_BATCH_SIZE": "4", "DOCENT_EMBED_CONCURRENCY": "1"}
ADDED = "\n\nA paragraph added before an interrupted re-ingest."
SYNTHETIC = "synthetic-hash-embed"


def fast_model(ollama_host: str, embed_model: str) -> str:
    """The stand-in's weightless embedder when served (the kills are the point), else ours."""
    names = [m["model"] for m in httpx.get(f"{ollama_host}/api/tags", timeout=30).json()["models"]]
    return SYNTHETIC if f"{SYNTHETIC}:latest" in names else embed_model


def kill_after(env: dict[str, str], docs: Path, seconds: float) -> int:
    """Start ``docent ingest``, SIGKILL it after ``seconds``; its "ingested" lines seen."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(docs)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    stdout = process.stdout
    done = [0]

    def count() -> None:
        for line in stdout:
            done[0] += line.startswith("ingested ")

    reader = threading.Thread(target=count, daemon=True)
    reader.start()
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    reader.join(timeout=30)
    stdout.close()
    return done[0]


def check_report(env: dict[str, str], collection: str = "default") -> tuple[int, dict[str, object]]:
    """``docent check COLLECTION --json`` in a new process: (exit status, report)."""
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "check", collection, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, json.loads(result.stdout or "{}")


def test_seeded_kill_9_of_docent_ingest_then_a_rerun_equals_an_uninterrupted_run(
    tmp_path, ollama_host, embed_model
):
    embed_model = fast_model(ollama_host, embed_model)
    docs = scifact_corpus(tmp_path / "docs", 12)
    originals = {path: path.read_text() for path in sorted(docs.iterdir())}
    reference = tmp_path / "reference"
    started = time.monotonic()
    clean = ingest(env_for(ollama_host, embed_model, reference, **SMALL_WAVES), str(docs))
    uninterrupted = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = snapshot(reference)
    assert len(expected[1]) == 12

    outcomes = []
    for seed in SEEDS:
        rng = random.Random(seed)
        store = tmp_path / f"killed-{seed}"
        env = env_for(ollama_host, embed_model, store, **SMALL_WAVES)
        moments = []
        for _ in range(KILLS):
            changed = rng.sample(sorted(originals), 4) if rng.random() < 0.5 else []
            for path in changed:
                path.write_text(originals[path] + ADDED)
            moment = round(rng.uniform(0.0, uninterrupted * 1.1), 2)
            moments.append((moment, bool(changed), kill_after(env, docs, moment)))
            for path in changed:
                path.write_text(originals[path])
        final = ingest(env, str(docs))
        label = f"seed {seed}, kills (seconds, changed corpus, lines seen) {moments}"
        assert final.returncode == 0, f"{label}: {final.stderr}"
        assert snapshot(store) == expected, f"{label}: the index differs from a clean run"
        status, report = check_report(env)
        assert status == 0, f"{label}: {report}"
        assert report.get("clean") is True, f"{label}: {report}"
        outcomes.append(label)
    print(f"uninterrupted run {uninterrupted:.1f} s;", *outcomes, sep="\n")
