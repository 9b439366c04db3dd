"""``python -m ingest`` (= ``docent ingest``) as a real process against the stand-in:
exit codes, the JSON report, server-mode Chroma, and crash safety under ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore
from tests.datasets import DATASETS

REPO = Path(__file__).resolve().parents[2]


def env_for(ollama_host: str, embed_model: str, chroma: Path | tuple[str, int], **extra: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(OLLAMA_HOST=ollama_host, DOCENT_EMBED_MODEL=embed_model)
    if isinstance(chroma, tuple):
        env.update(DOCENT_CHROMA_HOST=chroma[0], DOCENT_CHROMA_PORT=str(chroma[1]))
    else:
        env["DOCENT_CHROMA_PATH"] = str(chroma)
    env.update(extra)
    return env


def ingest(env, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def scifact_corpus(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = (DATASETS / "scifact" / "corpus.jsonl").read_text("utf-8").splitlines()[:n]
    for line in lines:
        doc = json.loads(line)
        (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")
    return folder


def snapshot(path: Path, collection: str = "default"):
    store = ChunkStore.from_settings(ChromaSettings(path=path))
    chunks = sorted(
        (c.id, c.text, tuple(sorted(c.metadata.items()))) for c in store.iter_chunks(collection)
    )
    docs = sorted(
        (d.source, d.version, d.chunk_count, d.state) for d in store.list_documents(collection)
    )
    return chunks, docs


def test_json_report_exit_codes_and_unchanged_rerun(tmp_path, ollama_host, embed_model):
    docs = scifact_corpus(tmp_path / "docs", 4)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    env = env_for(ollama_host, embed_model, tmp_path / "chroma")
    first = ingest(env, str(docs), "--json", "--collection", "cli")
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["files"] == {
        "ingested": 4,
        "unchanged": 0,
        "failed": 1,
        "removed": 0,
        "skipped": 0,
    }
    assert report["failures"] == [
        {
            "path": str(docs.resolve() / "broken.pdf"),
            "reason": "malformed",
            "message": report["failures"][0]["message"],
        }
    ]
    assert report["failures"][0]["message"].startswith("cannot be parsed")
    assert report["chunks"]["added"] >= 4
    assert report["embedding_calls"] >= 1
    assert "failed broken.pdf: malformed" in first.stderr  # plain progress lines, not stdout
    (docs / "broken.pdf").unlink()
    second = ingest(env, str(docs), "--json", "--collection", "cli")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["files"]["unchanged"] == 4
    assert again["embedding_calls"] == 0


def test_unusable_services_and_bad_usage_exit_2(tmp_path, embed_model, ollama_host):
    docs = scifact_corpus(tmp_path / "docs", 1)
    no_ollama = ingest(env_for("127.0.0.1:1", embed_model, tmp_path / "c"), str(docs))
    assert no_ollama.returncode == 2
    assert "ollama serve" in no_ollama.stderr
    no_chroma = ingest(env_for(ollama_host, embed_model, ("127.0.0.1", 1)), str(docs))
    assert no_chroma.returncode == 2
    assert "chroma run" in no_chroma.stderr
    bad_shard = ingest(
        env_for(ollama_host, embed_model, tmp_path / "c"), str(docs), "--shard", "3/2"
    )
    assert bad_shard.returncode == 2
    assert "1 <= I <= N" in bad_shard.stderr
    missing = ingest(env_for(ollama_host, embed_model, tmp_path / "c"), str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "existing file or folder" in missing.stderr
    no_model = ingest(env_for(ollama_host, "not-pulled", tmp_path / "c"), str(docs))
    assert no_model.returncode == 2
    assert "ollama pull not-pulled" in no_model.stderr


def test_sharded_runs_into_a_chroma_server_equal_one_run(
    tmp_path, ollama_host, embed_model, chroma_server
):
    docs = scifact_corpus(tmp_path / "docs", 6)
    env = env_for(ollama_host, embed_model, chroma_server)
    shards = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingest",
                str(docs),
                "-c",
                "sharded",
                "--shard",
                f"{i}/2",
                "--json",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    outputs = [p.communicate(timeout=300) for p in shards]
    assert [p.returncode for p in shards] == [0, 0], outputs
    ingested = [json.loads(out)["files"]["ingested"] for out, _ in outputs]
    assert sum(ingested) == 6
    whole = ingest(env, str(docs), "-c", "sharded", "--json")
    assert json.loads(whole.stdout)["files"]["unchanged"] == 6
    store = ChunkStore.from_settings(ChromaSettings(host=chroma_server[0], port=chroma_server[1]))
    assert store.get_collection("sharded").document_count == 6


def _kill_after(env, docs: Path, lines_before_kill: int) -> int:
    """Start an ingest, SIGKILL it after ``lines_before_kill`` progress lines; lines seen."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(docs)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen = 0
    assert process.stdout is not None
    try:
        while seen < lines_before_kill:
            line = process.stdout.readline()
            if not line:
                break
            seen += line.startswith("ingested ")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    return seen


def test_kill_9_at_any_moment_then_rerun_gives_the_same_index(tmp_path, ollama_host, embed_model):
    docs = scifact_corpus(tmp_path / "docs", 30)
    small_waves = {"DOCENT_EMBED_BATCH_SIZE": "4", "DOCENT_EMBED_CONCURRENCY": "1"}
    reference = tmp_path / "reference"
    clean = ingest(env_for(ollama_host, embed_model, reference, **small_waves), str(docs))
    assert clean.returncode == 0, clean.stderr
    expected = snapshot(reference)
    assert len(expected[1]) == 30

    crashed = tmp_path / "crashed"
    env = env_for(ollama_host, embed_model, crashed, **small_waves)
    # kill before anything is written, after the first wave, mid-run, and while a
    # changed corpus is being re-ingested
    progress = [_kill_after(env, docs, n) for n in (0, 1, 8)]
    assert progress[1] >= 1
    assert progress[2] >= 8
    for doc in sorted(docs.iterdir())[:8]:
        doc.write_text(doc.read_text() + "\n\nAn added paragraph.")
    _kill_after(env, docs, 3)
    for doc in sorted(docs.iterdir())[:8]:
        doc.write_text(doc.read_text().removesuffix("\n\nAn added paragraph."))
    time.sleep(0.1)
    final = ingest(env, str(docs))
    assert final.returncode == 0, final.stderr
    assert snapshot(crashed) == expected
    rerun = ingest(env, str(docs), "--json")
    assert json.loads(rerun.stdout)["embedding_calls"] == 0
