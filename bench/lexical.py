"""Hybrid search at scale: the table of issue 11, measured through the real commands.

1. Writes SciFact abstracts (repeated with a copy marker) as text files, enough for about
   ``--chunks`` chunks, and ingests them with the real ``docent ingest`` into embedded
   Chroma, embedding with the stand-in's ``synthetic-hash-embed`` (hashed-word vectors at
   memory speed: the model's speed and quality are out of the picture).
2. Starts ``docent serve`` on that store and measures, over HTTP: start-up, the first
   lexical search, warm search p50/p99 per mode, dense search with a ``source`` filter,
   RSS, the upload of one small document and the first hybrid search after it (which must
   find it), and hybrid p50/p99 while a batch of documents is being uploaded.

Usage: ``python -m bench lexical --chunks 100000`` (``--quick``: a few hundred chunks, for
CI). ``--store DIR`` keeps the ingested store for later runs; ``--docent-root PATH`` runs
``docent`` from another checkout (e.g. main, for "before" figures) against a copy of it.
``--chroma-server`` measures the same table with ``docent serve`` against ``chroma run`` on
that copy (its lexical index built once from the server and timed apart), and reports the
Chroma server's RSS beside ``docent serve``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import corpus, report

COLLECTION = "bench"
MODEL = "synthetic-hash-embed"
CHUNKS_PER_ABSTRACT = 3.07
"""SciFact abstracts give about 3.07 chunks each at Docent's default chunk size."""


@dataclass(frozen=True)
class Run:
    """Where things are for one benchmark run."""

    repo: Path
    """The checkout whose ``docent`` is measured."""
    store: Path
    """Embedded Chroma's folder."""
    ollama: str
    """The stand-in's address."""
    chroma_port: int | None = None
    """A Chroma server on loopback serving ``store`` (``--chroma-server``); None: embedded."""
    replica: Path | None = None
    """``docent serve``'s own folder with a Chroma server (its lexical index, locks)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(run: Run) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OLLAMA_HOST=run.ollama,
        DOCENT_EMBED_MODEL=MODEL,
        DOCENT_CHAT_MODEL="smollm2:135m",
        DOCENT_CHROMA_PATH=str(run.replica or run.store),
        PYTHONPATH=str(run.repo),
    )
    env.pop("DOCENT_CHROMA_HOST", None)
    if run.chroma_port is not None:
        assert run.replica is not None
        env.update(
            DOCENT_CHROMA_HOST="127.0.0.1",
            DOCENT_CHROMA_PORT=str(run.chroma_port),
            DOCENT_CHROMA_LOCK_PATH=str(run.replica / "locks"),
            DOCENT_INGEST_JOBS_PATH=str(run.replica / "jobs"),
        )
    return env


def _docent(run: Run, *args: str) -> list[str]:
    code = "import sys; from api.cli import main; sys.argv[0] = 'docent'; main()"
    return [sys.executable, "-c", code, *args]


@contextmanager
def standin() -> Iterator[str]:
    """The stand-in Ollama on a free port (this checkout's: it serves the synthetic model)."""
    command = [sys.executable, "-m", "standin", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(command, cwd=corpus.REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def chroma_server(store: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``chroma run --path STORE`` on a free loopback port: the process and its port."""
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    command = [str(chroma), "run", "--path", str(store), "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"`chroma run` did not answer on port {port}")
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=60)


def write_documents(folder: Path, count: int, first: int = 0) -> None:
    """``count`` SciFact abstracts (copies after the first 5,183) as ``.txt`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    base = corpus.abstracts()
    for n, abstract in enumerate(corpus.copies(base, first + count)):
        if n >= first:
            (folder / f"{abstract.doc_id}.txt").write_text(abstract.text, encoding="utf-8")


def ingest(run: Run, folder: Path) -> dict[str, Any]:
    """``docent ingest FOLDER --collection bench --json``; its JSON summary."""
    command = _docent(run, "ingest", str(folder), "--collection", COLLECTION, "--json")
    done = subprocess.run(
        command, env=_env(run), cwd=run.repo, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"docent ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """``docent serve`` in a subprocess, and timed calls to it."""

    def __init__(self, run: Run) -> None:
        self.port = _free_port()
        command = _docent(run, "serve", "--port", str(self.port))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, env=_env(run), cwd=run.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=600)

    def wait_ready(self) -> float:
        """Seconds from the process start until ``/healthz`` answers 200."""
        while True:
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                error = self.process.stderr.read().decode("utf-8", "replace")[-2000:]
                raise RuntimeError(f"docent serve exited: {error}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def search(self, query: str, mode: str, filters: dict[str, Any] | None = None) -> float:
        """Seconds for one ``/v1/search`` (k=5)."""
        body: dict[str, Any] = {"query": query, "collection": COLLECTION, "mode": mode, "k": 5}
        if filters:
            body["filters"] = filters
        start = time.perf_counter()
        response = self.http.post("/v1/search", json=body)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        return elapsed

    def found(self, query: str, source: str) -> bool:
        response = self.http.post(
            "/v1/search", json={"query": query, "collection": COLLECTION, "mode": "hybrid"}
        )
        response.raise_for_status()
        return any(hit.get("source") == source for hit in response.json()["data"])

    def upload(self, files: Sequence[tuple[str, str]]) -> float:
        """Seconds to upload ``(name, text)`` files in one request."""
        parts = [("files", (name, text.encode("utf-8"), "text/plain")) for name, text in files]
        start = time.perf_counter()
        response = self.http.post(f"/v1/collections/{COLLECTION}/documents", files=parts)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        return elapsed

    def rss_mb(self) -> float:
        return _rss_mb(self.process.pid)

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measure(
    run: Run,
    queries: list[str],
    sources: list[str],
    batch_docs: int,
    chroma_pid: int | None = None,
) -> list[tuple[str, str]]:
    """The issue's table, against ``docent serve`` on ``run.store`` (or its Chroma server)."""
    rows: list[tuple[str, str]] = []
    server = Server(run)
    try:
        rows.append(
            ("`docent serve` start-up (until /healthz answers)", f"{server.wait_ready():.1f} s")
        )
        server.search(queries[0], "dense")  # loads the embedding model and the vector index
        rows.append(
            ("first lexical search after start", f"{server.search(queries[1], 'lexical'):.3f} s")
        )
        for mode in ("dense", "lexical", "hybrid"):
            p = report.percentiles_ms([server.search(q, mode) for q in queries])
            rows.append((f"warm {mode} search p50 / p99", f"{p['p50']} / {p['p99']} ms"))
        rss_warm = server.rss_mb()
        filtered = [
            server.search(q, "dense", {"source": s}) for q, s in zip(queries, sources, strict=False)
        ]
        p = report.percentiles_ms(filtered)
        rows.append(
            ("dense search with a `source` filter p50 / p99", f"{p['p50']} / {p['p99']} ms")
        )
        marker = f"zyxwvutsrq{int(time.time())}"
        upload = server.upload(
            [(f"new-{marker}.txt", f"A new note about {marker} and the warranty.")]
        )
        rows.append(("upload of one small new document", f"{upload:.3f} s"))
        start = time.perf_counter()
        found = server.found(marker, f"new-{marker}.txt")
        rows.append(
            (
                "first hybrid search after that upload",
                f"{time.perf_counter() - start:.3f} s (found: {found})",
            )
        )
        rows.append(
            (
                "`docent serve` RSS: warm (all modes) → after the upload",
                f"{rss_warm:.0f} → {server.rss_mb():.0f} MB",
            )
        )
        if chroma_pid is not None:
            rows.append(
                ("the Chroma server's RSS after the upload", f"{_rss_mb(chroma_pid):.0f} MB")
            )
        rows.extend(_while_ingesting(server, queries, batch_docs))
        rows.append(("`docent serve` RSS at the end", f"{server.rss_mb():.0f} MB"))
        if chroma_pid is not None:
            rows.append(("the Chroma server's RSS at the end", f"{_rss_mb(chroma_pid):.0f} MB"))
    finally:
        server.stop()
    return rows


def _while_ingesting(server: Server, queries: list[str], batch_docs: int) -> list[tuple[str, str]]:
    """Hybrid p50/p99 while another thread uploads ``batch_docs`` documents, 20 a request."""
    base = corpus.abstracts()
    docs = [
        (f"batch-{n}-{a.doc_id}.txt", f"{a.text}\n\n[batch {n}]")
        for n, a in enumerate(base[:batch_docs])
    ]
    done = threading.Event()
    uploaded: list[float] = []

    def upload_all() -> None:
        try:
            for start in range(0, len(docs), 20):
                uploaded.append(server.upload(docs[start : start + 20]))
        finally:
            done.set()

    thread = threading.Thread(target=upload_all)
    started = time.perf_counter()
    thread.start()
    times: list[float] = []
    n = 0
    while not done.is_set():
        times.append(server.search(queries[n % len(queries)], "hybrid"))
        n += 1
    thread.join()
    seconds = time.perf_counter() - started
    p = report.percentiles_ms(times)
    what = f"hybrid p50 / p99 / max while {len(docs)} documents are uploaded (20 a request)"
    result = f"{p['p50']} / {p['p99']} / {p['max']} ms, {len(times)} searches in {seconds:.0f} s"
    return [(what, result)]


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench lexical", description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000, help="about this many chunks")
    parser.add_argument("--quick", action="store_true", help="a tiny run (CI smoke test)")
    parser.add_argument("--queries", type=int, default=200, help="searches per measurement")
    parser.add_argument("--batch-docs", type=int, default=400, help="uploaded while querying")
    parser.add_argument("--store", type=Path, help="keep (or reuse) the ingested store here")
    parser.add_argument(
        "--chroma-server",
        action="store_true",
        help="measure `docent serve` against `chroma run` on a copy of the store",
    )
    parser.add_argument("--docent-root", type=Path, default=corpus.REPO, help="checkout to measure")
    parser.add_argument("--label", default="", help="added to the result's name (e.g. before)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.queries, args.batch_docs = 300, 10, 20
    work = Path(tempfile.mkdtemp(prefix="bench-lexical-"))
    try:
        rows = _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mode = "-chroma-server" if args.chroma_server else ""
    name = f"lexical-{args.chunks}{mode}" + (f"-{args.label}" if args.label else "")
    params = {
        "chunks (target)": args.chunks,
        "queries per measurement": args.queries,
        "docent from": str(args.docent_root),
        "command": "python -m bench lexical " + " ".join(argv),
    }
    _json_path, md_path = report.write(args.out, name, params, rows)
    print(md_path.read_text(encoding="utf-8"))  # noqa: T201


def _run(args: argparse.Namespace, work: Path) -> list[tuple[str, str]]:
    built = args.store is not None and (args.store / "chroma.sqlite3").exists()
    store = args.store or work / "store"
    rows: list[tuple[str, str]] = []
    documents = max(1, round(args.chunks / CHUNKS_PER_ABSTRACT))
    with standin() as ollama:
        run = Run(repo=args.docent_root.resolve(), store=store, ollama=ollama)
        if not built:
            write_documents(work / "docs", documents)
            start = time.perf_counter()
            summary = ingest(run, work / "docs")
            seconds = time.perf_counter() - start
            chunks = int(summary["chunks"]["added"])
            rows.append(
                (
                    f"`docent ingest` of {documents} documents",
                    f"{chunks} chunks in {seconds:.0f} s ({chunks / seconds:.0f} chunks/s)",
                )
            )
        measured = work / "measured"
        shutil.copytree(store, measured)  # the measurements write; keep the built store as is
        run = Run(repo=run.repo, store=measured, ollama=ollama)
        all_queries = corpus.queries()
        queries = [all_queries[i % len(all_queries)] for i in range(args.queries)]
        sources = [
            f"{corpus.abstracts()[(i * 7919) % 5183].doc_id}.txt" for i in range(args.queries)
        ]
        if not args.chroma_server:
            rows.extend(measure(run, queries, sources, args.batch_docs))
            return rows
        with chroma_server(measured) as (chroma, port):
            run = Run(run.repo, measured, ollama, chroma_port=port, replica=work / "replica")
            rows.append(_first_replica_build(run, queries[0]))
            rows.extend(measure(run, queries, sources, args.batch_docs, chroma.pid))
    return rows


def _first_replica_build(run: Run, query: str) -> tuple[str, str]:
    """A new replica's first lexical search: its index is built once from the Chroma server.

    The measured ``docent serve`` that follows starts from that persisted index, as a
    replica does after its first start.
    """
    server = Server(run)
    try:
        server.wait_ready()
        seconds = server.search(query, "lexical")
    finally:
        server.stop()
    return (
        "a new replica's first lexical search (its index built from the server)",
        f"{seconds:.1f} s",
    )
