"""Serving: what Docent adds before the first answer token, under load, and its memory.

Against a real ``docent serve`` over HTTP, with the stand-in's two synthetic models
(``synthetic-hash-embed`` embeds and ``synthetic-echo-chat`` answers at memory speed), so
the models' time is out of the picture:

1. **Time added before the first token**, at each ``--sizes`` chunk count: one streamed
   ``/v1/query`` at a time, from sending it to its first ``delta`` event; minus the
   stand-in's own model calls measured in the same run (medians of its time to first token
   on ``/api/chat`` with a prompt of about the same size, and of one query's ``/api/embed``).
   p50 / p99.
2. **64 concurrent streamed queries** (on the largest store): errors (an explicit 503
   ``busy`` is allowed and counted apart), p50 / p99 time to the first event, and the
   longest event-loop stall inside the server (``docent_event_loop_lag_*`` on
   ``/metrics``), per round; and, as a control, the longest stall of the idle server.
3. **Peak RSS of ``docent serve``**: idle (started, warmed up), under that load, and while
   a batch of documents is uploaded into another collection (with the stall seen then).

Usage: ``python -m bench serving --store-dir DIR`` (stores of 1k/10k/100k chunks are built
there once with the real ``docent ingest``, and reused). ``--quick``: one small store, for
CI. ``--docent-root PATH --label before`` measures another checkout on the same stores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
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
from bench.lexical import CHUNKS_PER_ABSTRACT, COLLECTION, Run, ingest, standin, write_documents

EMBED_MODEL = "synthetic-hash-embed"
CHAT_MODEL = "synthetic-echo-chat"
INGEST_COLLECTION = "bench-upload"
LAG_MAX = "docent_event_loop_lag_max_seconds"
LAG_BUCKET = "docent_event_loop_lag_seconds_bucket"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kb(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` field in kB (``VmRSS``, ``VmHWM``); NaN once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    return float("nan")


class RssSampler:
    """The largest RSS of a process seen while the ``with`` block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def _env(run: Run) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OLLAMA_HOST=run.ollama,
        DOCENT_EMBED_MODEL=EMBED_MODEL,
        DOCENT_CHAT_MODEL=CHAT_MODEL,
        DOCENT_CHROMA_PATH=str(run.store),
        PYTHONPATH=str(run.repo),
    )
    env.pop("DOCENT_CHROMA_HOST", None)
    return env


@dataclass(frozen=True)
class Served:
    """A running ``docent serve``."""

    url: str
    pid: int


@contextmanager
def serve(run: Run) -> Iterator[Served]:
    """``docent serve`` of ``run.repo`` on ``run.store``, once ``/healthz`` answers."""
    port = _free_port()
    code = "import sys; from api.cli import app; sys.argv[0] = 'docent'; app()"
    command = [sys.executable, "-c", code, "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=_env(run), cwd=run.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            while True:
                if process.poll() is not None:
                    assert process.stderr is not None
                    error = process.stderr.read().decode("utf-8", "replace")[-2000:]
                    raise RuntimeError(f"docent serve exited: {error}")
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        yield Served(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


# --- 1. time added before the first token ---------------------------------------------------


def _first_delta(http: httpx.Client, question: str) -> float:
    """Seconds from sending a streamed ``/v1/query`` to its first ``delta`` event."""
    body = {"question": question, "collection": COLLECTION}
    start = time.perf_counter()
    first = float("nan")
    with http.stream("POST", "/v1/query", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            event = json.loads(line)
            if event["type"] == "delta" and first != first:
                first = time.perf_counter() - start
            if event["type"] == "error":
                raise RuntimeError(f"/v1/query failed: {event}")
    return first


def standin_first_token(ollama: str, prompt_words: int, repeats: int) -> list[float]:
    """Seconds to the first token of ``/api/chat`` on the stand-in itself (same-size prompt)."""
    content = " ".join(f"word{n % 997}" for n in range(prompt_words))
    body = {
        "model": CHAT_MODEL,
        "messages": [
            {"role": "system", "content": "Answer from the documents."},
            {"role": "user", "content": content},
        ],
        "stream": True,
    }
    times: list[float] = []
    with httpx.Client(base_url=ollama, timeout=60) as http:
        for _ in range(repeats):
            start = time.perf_counter()
            with http.stream("POST", "/api/chat", json=body) as response:
                response.raise_for_status()
                first = float("nan")
                for line in response.iter_lines():
                    part = json.loads(line)
                    if first != first and part.get("message", {}).get("content"):
                        first = time.perf_counter() - start
            times.append(first)
    return times


def standin_embed(ollama: str, repeats: int) -> list[float]:
    """Seconds of one query's ``/api/embed`` on the stand-in itself (Docent's model call)."""
    body = {"model": EMBED_MODEL, "input": ["what does the warranty cover"]}
    times: list[float] = []
    with httpx.Client(base_url=ollama, timeout=60) as http:
        for _ in range(repeats):
            start = time.perf_counter()
            http.post("/api/embed", json=body).raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def time_added(url: str, ollama: str, queries: Sequence[str]) -> dict[str, Any]:
    """Docent's time to the first token, the stand-in's own model calls, and the difference.

    The difference subtracts, from each of Docent's times, the medians of the stand-in's
    time to first token and of its query embedding: what is left is Docent's own work.
    """
    with httpx.Client(base_url=url, timeout=120) as http:
        for question in queries[:5]:  # warm-up: first searches open indexes, load vocabularies
            _first_delta(http, question)
        docent = [_first_delta(http, q) for q in queries]
    repeats = max(20, len(queries) // 4)
    chat = standin_first_token(ollama, prompt_words=900, repeats=repeats)
    embed = standin_embed(ollama, repeats)
    models = statistics.median(chat) + statistics.median(embed)
    return {
        "docent": report.percentiles_ms(docent),
        "chat": report.percentiles_ms(chat),
        "embed": report.percentiles_ms(embed),
        "added": report.percentiles_ms([t - models for t in docent]),
    }


# --- 2. concurrent queries and the loop stall ----------------------------------------------


@dataclass
class LoadRound:
    """One round of concurrent streamed queries."""

    first_event: list[float]
    busy: int
    errors: list[str]
    stall_ms: float
    """The longest loop stall during the round (exact when it set a new maximum, else the
    upper bound of its histogram bucket)."""


def metrics_text(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=30).text


def lag_state(text: str) -> tuple[float, dict[float, float]]:
    """(max lag since start, cumulative histogram counts by bucket bound) from ``/metrics``."""
    top = float("nan")
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(LAG_MAX + " "):
            top = float(line.split()[-1])
        elif line.startswith(LAG_BUCKET):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.split()[-1])
    return top, buckets


def stall_between(before: str, after: str) -> float:
    """Longest loop stall (ms) between two ``/metrics`` readings (NaN without the metrics).

    Exact when it set a new maximum since start; otherwise the upper bound of the smallest
    histogram bucket that holds every sample taken in between.
    """
    max_before, buckets_before = lag_state(before)
    max_after, buckets_after = lag_state(after)
    if max_after != max_after:
        return float("nan")
    if max_after > max_before:
        return max_after * 1000
    new = buckets_after.get(float("inf"), 0.0) - buckets_before.get(float("inf"), 0.0)
    for bound in sorted(buckets_after):
        if buckets_after[bound] - buckets_before.get(bound, 0.0) >= new:
            return bound * 1000
    return float("nan")


async def _one_streamed(http: httpx.AsyncClient, question: str, go: asyncio.Event) -> Any:
    await go.wait()
    start = time.perf_counter()
    body = {"question": question, "collection": COLLECTION}
    async with http.stream("POST", "/v1/query", json=body) as response:
        if response.status_code != 200:
            text = (await response.aread()).decode("utf-8", "replace")
            return ("busy" if '"busy"' in text and response.status_code == 503 else text[:200],)
        first = float("nan")
        async for line in response.aiter_lines():
            if not line:
                continue
            if first != first:
                first = time.perf_counter() - start
            event = json.loads(line)
            if event["type"] == "error":
                return (f"error event: {event.get('code')}",)
        return first


async def _round(url: str, questions: Sequence[str]) -> tuple[list[float], int, list[str]]:
    limits = httpx.Limits(max_connections=len(questions) + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        go = asyncio.Event()
        tasks = [asyncio.ensure_future(_one_streamed(http, q, go)) for q in questions]
        await asyncio.sleep(0.2)  # every task is waiting on the event
        go.set()
        results = await asyncio.gather(*tasks)
    firsts = [r for r in results if isinstance(r, float)]
    failures = [r[0] for r in results if isinstance(r, tuple)]
    busy = sum(1 for f in failures if f == "busy")
    return firsts, busy, [f for f in failures if f != "busy"]


def concurrent_load(url: str, queries: Sequence[str], clients: int, rounds: int) -> list[LoadRound]:
    """``rounds`` rounds of ``clients`` streamed queries sent at once."""
    out: list[LoadRound] = []
    for r in range(rounds):
        questions = [queries[(r * clients + i) % len(queries)] for i in range(clients)]
        before = metrics_text(url)
        firsts, busy, errors = asyncio.run(_round(url, questions))
        out.append(LoadRound(firsts, busy, errors, stall_between(before, metrics_text(url))))
    return out


# --- 3. an upload batch while the server runs -----------------------------------------------


def upload_batch(url: str, documents: int, per_request: int) -> tuple[float, float]:
    """Upload ``documents`` abstracts into another collection; (seconds, chunks/s)."""
    base = corpus.abstracts()
    docs = [(f"up-{a.doc_id}.txt", a.text) for a in corpus.copies(base, documents)]
    chunks = 0
    start = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as http:
        for first in range(0, len(docs), per_request):
            parts = [
                ("files", (name, text.encode("utf-8"), "text/plain"))
                for name, text in docs[first : first + per_request]
            ]
            response = http.post(f"/v1/collections/{INGEST_COLLECTION}/documents", files=parts)
            response.raise_for_status()
            chunks += sum(int(r.get("chunks", 0) or 0) for r in response.json().get("data", []))
    seconds = time.perf_counter() - start
    return seconds, chunks / seconds if seconds else 0.0


# --- the run -----------------------------------------------------------------------------


def build_store(store: Path, chunks: int, run: Run, work: Path) -> str:
    """The store of about ``chunks`` chunks (built with ``docent ingest`` unless present)."""
    if (store / "chroma.sqlite3").exists():
        return "reused"
    documents = max(1, round(chunks / CHUNKS_PER_ABSTRACT))
    folder = work / f"docs-{chunks}"
    write_documents(folder, documents)
    start = time.perf_counter()
    summary = ingest(run, folder)
    shutil.rmtree(folder, ignore_errors=True)
    seconds = time.perf_counter() - start
    added = int(summary["chunks"]["added"])
    return f"built: {added} chunks in {seconds:.0f} s"


def chunk_count(url: str) -> int:
    answer = httpx.get(f"{url}/v1/collections", timeout=60).json()
    return sum(int(c["chunk_count"]) for c in answer["data"] if c["name"] == COLLECTION)


def _ms(p: dict[str, float]) -> str:
    return f"{p['p50']} / {p['p99']} ms"


def measure(args: argparse.Namespace, work: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    all_queries = corpus.queries()
    queries = [all_queries[i % len(all_queries)] for i in range(args.queries)]
    with standin() as ollama:
        stores: list[tuple[int, Path]] = []
        for size in args.sizes:
            store = args.store_dir / f"chunks-{size}"
            build = Run(repo=corpus.REPO, store=store, ollama=ollama)
            rows.append((f"store of ~{size} chunks", build_store(store, size, build, work)))
            stores.append((size, store))
        repo = args.docent_root.resolve()
        for size, store in stores:
            measured = work / f"measured-{size}"
            shutil.copytree(store, measured)  # the server may write (indexes, uploads)
            run = Run(repo=repo, store=measured, ollama=ollama)
            with serve(run) as server:
                count = chunk_count(server.url)
                added = time_added(server.url, ollama, queries)
                rows.append(
                    (
                        f"{count} chunks: time Docent adds before the first token p50 / p99",
                        f"{_ms(added['added'])} (Docent's time to first token "
                        f"{_ms(added['docent'])}; the stand-in alone: first token "
                        f"{_ms(added['chat'])}, query embedding {_ms(added['embed'])})",
                    )
                )
                if size == stores[-1][0]:
                    rows.extend(_load_and_memory(args, server, queries, count))
            shutil.rmtree(measured, ignore_errors=True)
    return rows


def _load_and_memory(
    args: argparse.Namespace, server: Served, queries: Sequence[str], count: int
) -> list[tuple[str, str]]:
    url, pid = server.url, server.pid
    rows: list[tuple[str, str]] = []
    idle = _status_kb(pid, "VmRSS") / 1024
    before = metrics_text(url)
    time.sleep(args.idle_seconds)
    rows.append(
        (
            f"longest event-loop stall of the idle server over {args.idle_seconds:g} s"
            " (this machine's own noise)",
            f"{stall_between(before, metrics_text(url)):.1f} ms",
        )
    )
    with RssSampler(pid) as load_rss:
        rounds = concurrent_load(url, queries, args.clients, args.rounds)
    p50 = statistics.median(report.percentiles_ms(r.first_event)["p50"] for r in rounds)
    p99 = statistics.median(report.percentiles_ms(r.first_event)["p99"] for r in rounds)
    stalls = [r.stall_ms for r in rounds]
    errors = [e for r in rounds for e in r.errors]
    busy = [r.busy for r in rounds]
    rows.append(
        (
            f"{count} chunks, {args.clients} concurrent streamed queries, {args.rounds} rounds:"
            " errors (other than busy) · busy per round",
            f"{len(errors)}{' ' + repr(errors[:3]) if errors else ''} · {busy}",
        )
    )
    rows.append(
        (
            "  time to the first event p50 / p99 (median of rounds)",
            f"{p50} / {p99} ms",
        )
    )
    rows.append(
        (
            "  longest event-loop stall (per round; median)",
            f"{[round(s, 1) for s in stalls]} ms; {statistics.median(stalls):.1f} ms",
        )
    )
    before = metrics_text(url)
    with RssSampler(pid) as ingest_rss:
        seconds, rate = upload_batch(url, args.upload_docs, args.upload_per_request)
    stall = stall_between(before, metrics_text(url))
    rows.append(
        (
            f"upload of {args.upload_docs} documents ({args.upload_per_request} a request)"
            " into another collection: time · longest loop stall",
            f"{seconds:.1f} s ({rate:.0f} chunks/s) · {stall:.1f} ms",
        )
    )
    rows.append(
        (
            "`docent serve` peak RSS: idle (warm) · under the concurrent load · during the upload",
            f"{idle:.0f} · {load_rss.peak_mb:.0f} · {ingest_rss.peak_mb:.0f} MB",
        )
    )
    return rows


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench serving", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200, help="sequential queries per size")
    parser.add_argument("--clients", type=int, default=64, help="concurrent streamed queries")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of concurrent queries")
    parser.add_argument("--upload-docs", type=int, default=1000, help="documents uploaded")
    parser.add_argument("--upload-per-request", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle stall control")
    parser.add_argument("--store-dir", type=Path, help="build (or reuse) the stores here")
    parser.add_argument("--quick", action="store_true", help="a tiny run (CI smoke test)")
    parser.add_argument("--docent-root", type=Path, default=corpus.REPO, help="checkout to measure")
    parser.add_argument("--label", default="", help="added to the result's name (e.g. before)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.queries, args.clients, args.rounds = [300], 10, 8, 1
        args.upload_docs, args.upload_per_request, args.idle_seconds = 20, 10, 1.0
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    if args.store_dir is None:
        args.store_dir = work / "stores"
    try:
        rows = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    name = "serving" + (f"-{args.label}" if args.label else "")
    params = {
        "sizes (chunks, target)": " ".join(str(s) for s in args.sizes),
        "sequential queries per size": args.queries,
        "docent from": str(args.docent_root),
        "command": "python -m bench serving " + " ".join(argv),
    }
    _json_path, md_path = report.write(args.out, name, params, rows)
    print(md_path.read_text(encoding="utf-8"))  # noqa: T201
