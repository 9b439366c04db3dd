"""Real concurrent writers in random interleavings, compared with a serial model.

Several writer processes (``writer_process.py``) put and delete documents of one
collection in a real ``chroma run`` server, sharing one lock folder. For every document,
the final state must be the effect of an operation that could have been the last one
(no other operation on it started after it ended), and the whole index (records, chunk
ids, chunk texts) must equal a serial ingest of those final contents. ``docent check``
must find nothing. The seed is in every assertion message.

Default: a small run. ``DOCENT_STRESS=1``: more processes, operations and seeds.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.uploads import Upload, ingest_uploads
from retrieval.check import check_collection
from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore, DocumentRecord
from tests.ingest.writer_process import writer_embedder, writer_settings

REPO = Path(__file__).resolve().parents[2]
STRESS = bool(os.environ.get("DOCENT_STRESS"))
PROCESSES, OPS, SEEDS = (6, 30, range(5)) if STRESS else (3, 8, range(2))
NAMES = ["alpha.txt", "beta.md", "gamma.txt"]
WORDS = [
    "red",
    "green",
    "blue",
    "alpha",
    "omega",
    "the",
    "quick",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dogs",
]


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 120)))


def plan(seed: int) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    return [
        [
            {"op": "put", "name": rng.choice(NAMES), "text": random_text(rng)}
            if rng.random() < 0.7
            else {"op": "delete", "name": rng.choice(NAMES)}
            for _ in range(OPS)
        ]
        for _ in range(PROCESSES)
    ]


@dataclass(frozen=True)
class Done:
    op: str
    name: str
    text: str | None
    start: float
    end: float


def could_be_last(ops: list[Done]) -> list[Done]:
    """The operations that no other operation on the document surely followed."""
    return [o for o in ops if not any(p.start > o.end for p in ops)]


def index_of(store: ChunkStore, name: str) -> tuple[list[tuple[str, str]], list[DocumentRecord]]:
    chunks = sorted((c.id, c.text) for c in store.iter_chunks(name))
    records = [r.__class__(**{**r.__dict__, "ingested_at": ""}) for r in store.list_documents(name)]
    return chunks, records


async def serial_model(contents: dict[str, str]) -> ChunkStore:
    """A fresh store that one writer filled with the final contents, one at a time."""
    store = ChunkStore.ephemeral()
    ingestor = Ingestor(store, writer_embedder(), writer_settings(), reader=InProcessReader())
    for source, text in sorted(contents.items()):
        await ingest_uploads(ingestor, [Upload(source, text.encode())], collection="model")
    if not contents:
        store.ensure_collection("model", "fake-embed", 32)
    return store


def run_writers(seed: int, chroma_server, tmp_path: Path, collection: str) -> list[Done]:
    host, port = chroma_server
    processes = []
    for number, ops in enumerate(plan(seed)):
        spec = tmp_path / f"writer-{number}.json"
        spec.write_text(
            json.dumps(
                {
                    "host": host,
                    "port": port,
                    "locks": str(tmp_path / "locks"),
                    "collection": collection,
                    "seed": seed * 100 + number,
                    "max_pause": 0.05,
                    "ops": ops,
                }
            )
        )
        command = [sys.executable, "-m", "tests.ingest.writer_process", str(spec)]
        processes.append(
            subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    done: list[Done] = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"seed {seed}: a writer failed:\n{err.decode()[-3000:]}"
        for line in out.decode().splitlines():
            item = json.loads(line)
            done.append(
                Done(item["op"], item["name"], item.get("text"), item["start"], item["end"])
            )
    return done


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_writer_processes_match_a_serial_model(seed, chroma_server, tmp_path):
    collection = f"race-{uuid.uuid4().hex[:10]}"
    done = run_writers(seed, chroma_server, tmp_path, collection)
    assert len(done) == PROCESSES * OPS, f"seed {seed}"
    store = ChunkStore.from_settings(
        ChromaSettings(host=chroma_server[0], port=chroma_server[1], lock_path=tmp_path / "locks")
    )
    stored = {c.metadata["source"]: c for c in store.iter_chunks(collection)}
    final: dict[str, str] = {}
    for source in NAMES:
        ops = [o for o in done if o.name == source]
        if not ops:
            continue
        records = [r for r in store.list_documents(collection) if r.source == source]
        candidates = could_be_last(ops)
        if not records:
            assert source not in stored, f"seed {seed}: chunks of {source} without a record"
            assert any(o.op == "delete" for o in candidates), (
                f"seed {seed}: {source} is gone but its last writes were puts"
            )
            continue
        texts = {o.text for o in candidates if o.op == "put"}
        text = next((t for t in texts if asyncio.run(_same(store, collection, source, t))), None)
        assert text is not None, f"seed {seed}: {source} holds no content a last put wrote"
        final[source] = text
    model = asyncio.run(serial_model(final))
    got_chunks, got_records = index_of(store, collection)
    want_chunks, want_records = index_of(model, "model")
    assert got_chunks == want_chunks, f"seed {seed}: chunks differ from the serial model"
    assert got_records == want_records, f"seed {seed}: records differ from the serial model"
    report = check_collection(store, collection)
    assert report.clean, f"seed {seed}: docent check found {report.problems}"
    print(f"seed {seed}: {len(done)} operations by {PROCESSES} processes, final {sorted(final)}")


async def _same(store: ChunkStore, collection: str, source: str, text: str) -> bool:
    """Does the stored document equal ``text`` ingested alone?"""
    model = await serial_model({source: text})
    ours = sorted(c.text for c in store.iter_chunks(collection) if c.metadata["source"] == source)
    return ours == sorted(c.text for c in model.iter_chunks("model"))
