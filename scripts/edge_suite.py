"""Fault and load figures for the HTTP edge (issue 10), against real processes.

Starts the stand-in Ollama (real small models) and ``docent serve`` on loopback, then:

- load: N concurrent streamed ``/v1/query`` (0 errors but explicit ``busy``; p50/p99 time
  to the first event), a sustained ``/v1/search`` rate, memory before/after a short soak;
- faults: the stand-in answering with ``--error-rate`` and ``--latency-ms``, killed in the
  middle of an answer and restarted, and ``kill -9`` of ``docent serve`` during uploads at
  seeded random moments, then a restart, a re-upload and ``docent check`` (must be clean).

Usage (from the repo, with its .venv)::

    nice .venv/bin/python scripts/edge_suite.py [--queries 64] [--search-seconds 15] [--kills 3]

Prints one JSON report; exit status 1 when a 5xx other than busy/ollama_* was seen or
``docent check`` found disagreements. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
COLLECTION = "edge"
QUESTION = "When is the customer support line open?"
EXPECTED_5XX = {"busy", "ollama_unavailable", "ollama_error", "model_missing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Processes:
    """The stand-in and the server, on fixed loopback ports so both can be restarted."""

    def __init__(self, data: Path) -> None:
        self.standin_port = free_port()
        self.server_port = free_port()
        self.data = data
        self.standin: subprocess.Popen[str] | None = None
        self.server: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "OLLAMA_HOST": f"127.0.0.1:{self.standin_port}",
            "DOCENT_CHROMA_PATH": str(self.data / "chroma"),
            "DOCENT_EMBED_MODEL": os.environ.get("DOCENT_TEST_EMBED_MODEL", "all-minilm"),
            "DOCENT_CHAT_MODEL": os.environ.get("DOCENT_TEST_CHAT_MODEL", "smollm2:135m"),
            "DOCENT_MAX_GENERATIONS": "2",
            "DOCENT_MAX_QUEUED": "16",
        }

    def start_standin(self, *flags: str) -> None:
        command = [sys.executable, "-m", "standin", "--host", "127.0.0.1"]
        command += ["--port", str(self.standin_port), *flags]
        self.standin = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, text=True)
        wait_http(f"http://127.0.0.1:{self.standin_port}/api/version")

    def stop_standin(self, kill: bool = False) -> None:
        stop(self.standin, kill)
        self.standin = None

    def start_server(self) -> None:
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(self.server_port)]
        self.server = subprocess.Popen(
            command, cwd=REPO, env=self.env(), stdout=subprocess.DEVNULL, text=True
        )
        wait_http(f"{self.url}/healthz")

    def stop_server(self, kill: bool = False) -> None:
        stop(self.server, kill)
        self.server = None

    def check(self) -> dict[str, Any]:
        command = [sys.executable, "-m", "api.cli", "check", COLLECTION, "--json"]
        done = subprocess.run(command, cwd=REPO, env=self.env(), capture_output=True, text=True)
        report: dict[str, Any] = json.loads(done.stdout or "{}")
        report["exit"] = done.returncode
        return report


def stop(process: subprocess.Popen[str] | None, kill: bool) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def corpus() -> list[tuple[str, bytes]]:
    folder = REPO / "api" / "sample_corpus"
    return [(path.name, path.read_bytes()) for path in sorted(folder.iterdir())]


def code_of(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return "unparsable"
    return str(error.get("code")) if isinstance(error, dict) else str(error)


async def upload(http: httpx.AsyncClient, files: list[tuple[str, bytes]]) -> httpx.Response:
    parts = [("files", (name, data, "text/markdown")) for name, data in files]
    return await http.post(f"/v1/collections/{COLLECTION}/documents", files=parts)


async def streamed_query(http: httpx.AsyncClient) -> tuple[int, str, float | None, str | None]:
    """Status, error code, seconds to the first event, and an error event's code."""
    body = {
        "collection": COLLECTION,
        "question": QUESTION,
        "options": {"num_predict": 24},
        "stream": True,
    }
    started = time.perf_counter()
    first: float | None = None
    event_error: str | None = None
    async with http.stream("POST", "/v1/query", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, code_of(response), None, None
        async for line in response.aiter_lines():
            if not line:
                continue
            if first is None:
                first = time.perf_counter() - started
            event = json.loads(line)
            if event.get("type") == "error":
                event_error = str(event.get("code"))
    return 200, "", first, event_error


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


async def load(
    procs: Processes, queries: int, search_seconds: float, rate: float
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=procs.url, timeout=600) as http:
        results = await asyncio.gather(*(streamed_query(http) for _ in range(queries)))
        statuses = Counter(f"{status} {code}".strip() for status, code, _, _ in results)
        firsts = [first for _, _, first, _ in results if first is not None]
        report["streamed_queries"] = {
            "sent": queries,
            "statuses": dict(statuses),
            "error_events": sum(1 for *_, error in results if error),
            "unexpected": sum(
                1
                for status, code, _, error in results
                if (status != 200 and code != "busy") or error
            ),
            "first_event_p50_s": percentile(firsts, 0.5),
            "first_event_p99_s": percentile(firsts, 0.99),
        }
        assert procs.server is not None
        before = rss_mb(procs.server.pid)
        sent, failures, latencies = 0, Counter[str](), []
        started = time.monotonic()
        pending: list[asyncio.Task[httpx.Response]] = []
        while time.monotonic() - started < search_seconds:
            mode = ("dense", "lexical", "hybrid")[sent % 3]
            body = {"collection": COLLECTION, "query": f"support hours {sent}", "mode": mode}
            pending.append(asyncio.create_task(http.post("/v1/search", json=body)))
            sent += 1
            await asyncio.sleep(1 / rate)
        t0 = time.perf_counter()
        for response in await asyncio.gather(*pending):
            if response.status_code != 200:
                failures[f"{response.status_code} {code_of(response)}"] += 1
        latencies.append(time.perf_counter() - t0)
        after = rss_mb(procs.server.pid)
        report["search_rate"] = {
            "seconds": search_seconds,
            "requests": sent,
            "rate_per_s": rate,
            "failures": dict(failures),
        }
        report["soak_memory_mb"] = {"before": round(before, 1), "after": round(after, 1)}
    return report


async def faults(procs: Processes, kills: int, seed: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=procs.url, timeout=600) as http:
        # 1. the stand-in failing half of its model requests, slowly
        procs.stop_standin()
        procs.start_standin("--error-rate", "0.5", "--latency-ms", "200", "--seed", str(seed))
        codes = Counter[str]()
        for _ in range(8):
            status, code, _, error = await streamed_query(http)
            codes[f"{status} {code or error or 'ok'}"] += 1
        report["error_rate_0.5"] = dict(codes)
        procs.stop_standin()
        procs.start_standin()
        # 2. the stand-in killed in the middle of a streamed answer
        task = asyncio.create_task(streamed_query(http))
        await asyncio.sleep(2.5)
        procs.stop_standin(kill=True)
        status, code, _, error = await task
        after = await http.post(
            "/v1/query", json={"collection": COLLECTION, "question": QUESTION, "stream": False}
        )
        report["standin_killed_mid_answer"] = {
            "stream": f"{status} {code or error or 'ok'}",
            "next_query": f"{after.status_code} {code_of(after)}",
        }
        procs.start_standin()
    # 3. kill -9 of the server during uploads, at seeded random moments
    rng = random.Random(seed)
    files = corpus()
    outcomes = []
    for round_ in range(kills):
        async with httpx.AsyncClient(base_url=procs.url, timeout=600) as http:
            batch = [(f"r{round_}-{i}-{name}", data) for i, (name, data) in enumerate(files * 3)]
            task = asyncio.create_task(upload(http, batch))
            delay = rng.uniform(0.2, 3.0)
            await asyncio.sleep(delay)
            procs.stop_server(kill=True)
            try:
                await task
                outcome = "finished before the kill"
            except httpx.HTTPError:
                outcome = "cut"
        procs.start_server()
        async with httpx.AsyncClient(base_url=procs.url, timeout=600) as http:
            again = await upload(http, batch)
        procs.stop_server()
        check = procs.check()
        procs.start_server()
        outcomes.append(
            {
                "kill_after_s": round(delay, 2),
                "upload": outcome,
                "re_upload": again.status_code,
                "check_exit": check["exit"],
                "problems": [
                    f"{p.get('kind')} {p.get('subject')}: {p.get('detail')}"
                    for p in check.get("problems", [])
                ],
            }
        )
    report["server_killed_during_uploads"] = outcomes
    return report


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--search-seconds", type=float, default=15.0)
    parser.add_argument("--search-rate", type=float, default=20.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docent-edge-") as folder:
        procs = Processes(Path(folder))
        try:
            procs.start_standin()
            procs.start_server()
            async with httpx.AsyncClient(base_url=procs.url, timeout=600) as http:
                created = await upload(http, corpus())
                if created.status_code != 200:
                    raise RuntimeError(f"ingest failed: {created.text}")
            report = await load(procs, args.queries, args.search_seconds, args.search_rate)
            report |= await faults(procs, args.kills, args.seed)
        finally:
            procs.stop_server()
            procs.stop_standin()
    print(json.dumps(report, indent=2))
    bad = report["streamed_queries"]["unexpected"] + sum(report["search_rate"]["failures"].values())
    bad += sum(1 for o in report["server_killed_during_uploads"] if o["check_exit"] != 0)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
