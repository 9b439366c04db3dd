"""What a job costs: one folder through `docent ingest` and through a job of `docent serve`.

Both ingest the same folder into fresh collections of one fresh store, with the same
settings, against the same Ollama (OLLAMA_HOST, default: a stand-in started here).
Reports each run's ingest time as the run itself measures it (the CLI's report
``seconds``; the job's ``finished_at - started_at``), files/s, and the job's overhead.

    .venv/bin/python scripts/bench_jobs.py FOLDER [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def standin() -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "standin", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--exit-with-stdin"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.removeprefix("standin listening on ").strip()


def cli_seconds(env: dict[str, str], folder: Path, collection: str) -> tuple[float, int]:
    command = [sys.executable, "-m", "api.cli", "ingest", str(folder), "-c", collection, "--json"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    return float(report["seconds"]), int(report["files"]["ingested"])


def job_seconds(env: dict[str, str], folder: Path, collection: str) -> tuple[float, int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        job = httpx.post(
            f"{url}/v1/collections/{collection}/jobs", json={"paths": [str(folder)]}, timeout=60
        ).json()
        with httpx.stream("GET", f"{url}/v1/jobs/{job['id']}/events", timeout=None) as stream:
            last = [json.loads(line) for line in stream.iter_lines() if line][-1]["job"]
        return last["finished_at"] - last["started_at"], last["files"]["ingested"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    folder = args.folder.resolve()
    process = None
    host = os.environ.get("OLLAMA_HOST")
    if not host:
        process, host = standin()
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "OLLAMA_HOST": host,
            "DOCENT_EMBED_MODEL": os.environ.get("DOCENT_EMBED_MODEL", "all-minilm"),
            "DOCENT_CHROMA_PATH": str(Path(data) / "chroma"),
            "DOCENT_INGEST_ROOTS": str(folder),
        }
        try:
            cli, job = [], []
            for round_ in range(args.rounds):  # alternated, so drift hits both alike
                cli.append(cli_seconds(env, folder, f"cli-{round_}"))
                job.append(job_seconds(env, folder, f"job-{round_}"))
        finally:
            if process is not None:
                process.terminate()
    best_cli, best_job = min(s for s, _ in cli), min(s for s, _ in job)
    files = cli[0][1]
    print(f"folder {folder}: {files} files ingested per run, {args.rounds} rounds")
    print(f"docent ingest: {best_cli:.2f} s ({files / best_cli:.2f} files/s) {cli}")
    print(f"job:           {best_job:.2f} s ({files / best_job:.2f} files/s) {job}")
    print(f"job overhead:  {100 * (best_job / best_cli - 1):+.1f}%")


if __name__ == "__main__":
    main()
