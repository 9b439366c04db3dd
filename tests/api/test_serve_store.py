"""A real ``docent serve`` and real ``docent ingest`` processes on one embedded store.

Issue 10 item 3: embedded Chroma serves one process. While ``docent serve`` runs, a
``docent ingest`` into its store is refused with a message that says what to do; writes
go through the server, whose concurrent uploads and deletes (random interleavings,
seeded) must end equal to a serial model built by the same server. Against the
stand-in (real embeddings).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ingest.sources import content_hash
from tests.conftest import stop

REPO = Path(__file__).resolve().parents[2]
STRESS = bool(os.environ.get("DOCENT_STRESS"))
REQUESTS, SEEDS = (60, range(4)) if STRESS else (16, range(1))
NAMES = ["one.txt", "two.md", "three.txt"]
WORDS = ["opening", "hours", "nine", "five", "warranty", "kettle", "boils", "litre", "free"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def env(ollama_host: str, embed_model: str, chat_model: str, tmp_path_factory) -> dict[str, str]:
    chroma = tmp_path_factory.mktemp("serve-store") / "chroma"
    return {
        **os.environ,
        "OLLAMA_HOST": ollama_host,
        "DOCENT_EMBED_MODEL": embed_model,
        "DOCENT_CHAT_MODEL": chat_model,
        "DOCENT_CHROMA_PATH": str(chroma),
        "DOCENT_CHUNK_SIZE": "32",
        "DOCENT_CHUNK_OVERLAP": "4",
    }


@contextmanager
def running_server(env: dict[str, str]) -> Iterator[str]:
    """A real ``docent serve`` process on a free port; its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).is_success:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"docent serve did not start (exit {process.poll()})")
        time.sleep(0.2)
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[str]:
    with running_server(env) as url:
        yield url


def ingest(
    env: dict[str, str], folder: Path, collection: str = "shared"
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api.cli", "ingest", str(folder), "-c", collection]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def upload(url: str, collection: str, name: str, text: str) -> httpx.Response:
    files = [("files", (name, text.encode(), "text/plain"))]
    return httpx.post(f"{url}/v1/collections/{collection}/documents", files=files, timeout=120)


def test_ingest_beside_a_running_server_is_refused_with_what_to_do(server, env, tmp_path):
    assert upload(server, "shared", "hours.txt", "Opening hours are nine to five.").is_success
    (tmp_path / "new.txt").write_text("The warranty lasts two years.")
    refused = ingest(env, tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    port = server.rsplit(":", 1)[1]
    assert f"in use by docent serve at http://127.0.0.1:{port}" in refused.stderr
    assert "upload through it (POST /v1/collections/NAME/documents) or stop it" in refused.stderr
    # what the message says works: through the server, dense search sees it at once
    assert upload(server, "shared", "new.txt", "The warranty lasts two years.").is_success
    hits = httpx.post(
        f"{server}/v1/search",
        json={"query": "How long is the warranty?", "collection": "shared", "mode": "dense"},
        timeout=60,
    ).json()["data"]
    assert hits[0]["source"] == "new.txt"


@dataclass(frozen=True)
class Done:
    op: str
    name: str
    text: str
    start: float
    end: float


async def interleave(url: str, seed: int, collection: str) -> list[Done]:
    rng = random.Random(seed)
    done: list[Done] = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(number: int) -> None:
            await asyncio.sleep(rng.uniform(0, 0.3))
            name = rng.choice(NAMES)
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 80))) + f" {number}"
            start = time.time()
            if rng.random() < 0.7:
                files = [("files", (name, text.encode(), "text/plain"))]
                response = await client.post(f"/v1/collections/{collection}/documents", files=files)
                assert response.status_code == 200, f"seed {seed}: {response.text}"
                done.append(Done("put", name, text, start, time.time()))
                return
            listed = await client.get(f"/v1/collections/{collection}/documents")
            by_source = {d["source"]: d["doc_id"] for d in listed.json().get("data", [])}
            if name in by_source:
                deleted = await client.delete(
                    f"/v1/collections/{collection}/documents/{by_source[name]}"
                )
                assert deleted.status_code in (200, 404), f"seed {seed}: {deleted.text}"
                done.append(Done("delete", name, "", start, time.time()))

        await client.post(
            f"/v1/collections/{collection}/documents",
            files=[("files", ("seed.txt", b"seed", "text/plain"))],
        )
        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    return done


def documents(url: str, collection: str) -> dict[str, dict]:
    listed = httpx.get(f"{url}/v1/collections/{collection}/documents", timeout=30).json()
    return {d["source"]: d for d in listed["data"]}


def chunks(url: str, collection: str) -> list[tuple[str, str]]:
    """Every chunk (id, text) through lexical search for each word (k = 100)."""
    found: set[tuple[str, str]] = set()
    for word in [*WORDS, "seed"]:
        response = httpx.post(
            f"{url}/v1/search",
            json={"query": word, "collection": collection, "mode": "lexical", "k": 100},
            timeout=60,
        )
        found |= {(h["id"], h["text"]) for h in response.json()["data"]}
    return sorted(found)


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_uploads_and_deletes_match_a_serial_model(server, seed):
    collection = f"race-{seed}"
    done = asyncio.run(interleave(server, seed, collection))
    final = documents(server, collection)
    expected: dict[str, str] = {"seed.txt": "seed"}
    for name in NAMES:
        ops = [o for o in done if o.name == name]
        last = [o for o in ops if not any(p.start > o.end for p in ops)]
        if name not in final:
            assert not ops or any(o.op == "delete" for o in last), f"seed {seed}: {name} lost"
            continue
        texts = [o.text for o in last if o.op == "put"]
        match = [t for t in texts if content_hash(t.encode()) == final[name]["content_hash"]]
        assert match, f"seed {seed}: {name} holds content no last upload sent"
        expected[name] = match[0]
    model = f"model-{seed}"
    for name, text in sorted(expected.items()):
        assert upload(server, model, name, text).is_success
    want = documents(server, model)
    assert {s: (d["content_hash"], d["chunk_count"], d["doc_id"]) for s, d in final.items()} == {
        s: (d["content_hash"], d["chunk_count"], d["doc_id"]) for s, d in want.items()
    }, f"seed {seed}: records differ from the serial model"
    assert chunks(server, collection) == chunks(server, model), f"seed {seed}: chunks differ"
    print(f"seed {seed}: {len(done)} uploads/deletes, final {sorted(expected)}")


def dense_sources(url: str, collection: str, query: str) -> list[str]:
    response = httpx.post(
        f"{url}/v1/search",
        json={"query": query, "collection": collection, "mode": "dense"},
        timeout=60,
    )
    return [h["source"] for h in response.json()["data"]]


def test_the_cli_writes_once_the_server_is_gone_and_the_next_server_sees_it(
    env, tmp_path, tmp_path_factory
):
    env = {**env, "DOCENT_CHROMA_PATH": str(tmp_path_factory.mktemp("own-store") / "chroma")}
    (tmp_path / "kettle.txt").write_text("The kettle boils one litre in three minutes.")
    with running_server(env) as url:
        assert upload(url, "later", "hours.txt", "Opening hours are nine to five.").is_success
        assert ingest(env, tmp_path, "later").returncode == 2
    done = ingest(env, tmp_path, "later")
    assert done.returncode == 0, done.stdout + done.stderr
    with running_server(env) as url:
        assert dense_sources(url, "later", "How fast does the kettle boil?")[0] == "kettle.txt"
