"""Ingestion jobs over real HTTP on loopback, with real Chroma and real files.

Most tests serve the app with uvicorn in a thread over a runtime whose embedder is the
fast hash fake (files are read in the real isolated worker processes); the restart test
runs a real ``docent serve`` process against the stand-in and kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.jobs_schemas import JobPublic, JobsPublic
from api.services import Services
from ingest.runtime import Runtime
from ingest.service import ingest_paths
from retrieval.check import check_collection
from retrieval.errors import OllamaUnavailable
from retrieval.ollama_client import OllamaAdmin
from retrieval.settings import (
    ApiSettings,
    ChromaSettings,
    IngestSettings,
    OllamaSettings,
    RetrievalSettings,
    Settings,
)
from retrieval.store import ChunkStore
from tests.api.server import serve
from tests.api.test_serve_store import REPO, free_port, running_server
from tests.datasets import dataset
from tests.fakes import FakeEmbedder, ScriptedChat

TIMEOUT = 300


class SlowEmbedder(FakeEmbedder):
    """The hash fake, slowed per request, so that a job is still running when cancelled."""

    async def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        return await super().embed_documents(texts)


class DownEmbedder(FakeEmbedder):
    """An Ollama that went away: every embedding request fails."""

    async def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        raise OllamaUnavailable("Ollama is not answering at http://127.0.0.1:9.")


def job_settings(
    tmp_path: Path, roots: list[Path], batch: int | None = None, **ingest: object
) -> Settings:
    return Settings(
        ollama=OllamaSettings(
            host="127.0.0.1:9",
            embed_model="fake-embed",
            chat_model="scripted",
            embed_batch_size=batch,
            embed_concurrency=1,
        ),
        chroma=ChromaSettings(path=tmp_path / "chroma"),
        ingest=IngestSettings(
            roots=roots, ocr=False, workers=2, jobs_path=tmp_path / "jobs", **ingest
        ),
        retrieval=RetrievalSettings(mode="dense", k=3),
        api=ApiSettings(max_upload_mb=0.01),
    )


@contextmanager
def job_server(
    settings: Settings, embedder: FakeEmbedder | None = None
) -> Iterator[tuple[str, Runtime]]:
    """The API over real Chroma and the real isolated reader, on a loopback port."""
    store = ChunkStore.from_settings(settings.chroma)
    fake = embedder or FakeEmbedder(dimension=16, batch_size=64)
    ollama = OllamaAdmin(
        "http://ollama.test", transport=httpx.MockTransport(lambda r: httpx.Response(404))
    )
    runtime = Runtime(settings, store=store, embedder=fake, chat=ScriptedChat(), ollama=ollama)
    app = create_app(services=Services.from_runtime(runtime))
    try:
        with serve(app) as url:
            yield url, runtime
    finally:
        asyncio.run(runtime.aclose())
        asyncio.run(ollama.aclose())
        store.close()


def follow(url: str, job_id: str, headers: dict[str, str] | None = None) -> list[dict]:
    """Every NDJSON event of a job's stream, to its end."""
    with httpx.stream(
        "GET", f"{url}/v1/jobs/{job_id}/events", headers=headers, timeout=TIMEOUT
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in r.iter_lines() if line]


def start(url: str, collection: str, **body: object) -> JobPublic:
    response = httpx.post(f"{url}/v1/collections/{collection}/jobs", json=body, timeout=60)
    assert response.status_code == 202, response.text
    job = JobPublic.model_validate(response.json())
    assert response.headers["location"] == job.url == f"{url}/v1/jobs/{job.id}"
    return job


def get(url: str, job_id: str) -> JobPublic:
    response = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30)
    assert response.status_code == 200, response.text
    return JobPublic.model_validate(response.json())


PDF_FOLDERS = ["py-pdf-sample-files", "pypdf-resources"]


def test_a_pdf_job_reports_every_file_with_the_verdict_of_docent_ingest(tmp_path):
    pdfs = dataset("pdfs")
    folders = [str(pdfs / name) for name in PDF_FOLDERS]
    with job_server(job_settings(tmp_path, [pdfs])) as (url, runtime):
        job = start(url, "pdfs", paths=folders, glob="**/*.pdf")
        assert job.state in ("queued", "running")
        events = follow(url, job.id)
        final = get(url, job.id)
        expected = asyncio.run(
            ingest_paths(runtime.ingestor, folders, collection="direct", glob="**/*.pdf")
        )
        report = check_collection(runtime.store, "pdfs")

    assert final.state == "succeeded"
    verdicts = {
        e["file"]["source"]: (e["file"]["status"], e["file"]["reason"])
        for e in events
        if e["type"] == "file"
    }
    assert verdicts == {r.source: (r.status, r.reason) for r in expected.results}
    assert final.files.total == final.files.processed == len(expected.results) == 41
    assert final.files.ingested == expected.count("ingested") > 0
    assert final.files.failed == expected.count("failed") > 0
    assert final.chunks.added == expected.chunks_added
    failures = {f.source: f.reason for f in final.failures}
    assert failures == {r.source: r.reason for r in expected.failures}
    assert report.clean, report.problems
    # progress events: the state first, numbered in order, one per file, the final job last
    assert events[0]["type"] == "state"
    assert [e["seq"] for e in events[1:]] == sorted({e["seq"] for e in events[1:]})
    assert events[-1]["type"] == "end"
    assert events[-1]["job"]["files"] == final.files.model_dump()
    processed = [e["files"]["processed"] for e in events if e["type"] == "file"]
    assert processed == list(range(1, len(expected.results) + 1))


def test_a_late_client_gets_the_current_state_then_the_end_also_as_sse(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"note-{i}.txt").write_text(f"Note {i} says the kettle boils {i} litres.")
    with job_server(job_settings(tmp_path, [folder])) as (url, _runtime):
        job = start(url, "notes", paths=[str(folder)])
        follow(url, job.id)  # to its end
        late = follow(url, job.id)
        with httpx.stream(
            "GET",
            f"{url}/v1/jobs/{job.id}/events",
            headers={"Accept": "text/event-stream"},
            timeout=60,
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            frames = response.read().decode().strip().split("\n\n")
        listed = JobsPublic.model_validate(httpx.get(f"{url}/v1/jobs", timeout=30).json())
        metrics = httpx.get(f"{url}/metrics", timeout=30).text

    assert [e["type"] for e in late] == ["state", "end"]
    assert late[0]["job"]["state"] == "succeeded"
    assert late[-1]["job"]["files"]["ingested"] == 3
    assert [f.split("\n")[0] for f in frames] == ["event: state", "event: end"]
    assert (
        json.loads(frames[-1].split("\n")[1].removeprefix("data: "))["job"]["state"] == "succeeded"
    )
    assert listed.count == 1
    assert listed.data[0].id == job.id
    assert 'docent_jobs{state="succeeded"} 1.0' in metrics
    assert 'docent_jobs{state="running"} 0.0' in metrics
    assert "docent_jobs_files_per_second 0.0" in metrics


def test_an_upload_job_stores_the_files_then_ingests_them_under_their_names(tmp_path):
    with job_server(job_settings(tmp_path, [])) as (url, _runtime):
        files = [
            ("files", ("a.txt", b"The warranty lasts two years.", "text/plain")),
            ("files", ("../b.md", b"# Hours\nOpen nine to five.", "text/markdown")),
            ("files", ("bad.exe", b"MZ", "application/octet-stream")),
        ]
        response = httpx.post(f"{url}/v1/collections/uploads/jobs", files=files, timeout=60)
        assert response.status_code == 202, response.text
        job = JobPublic.model_validate(response.json())
        assert job.kind == "uploads"
        follow(url, job.id)
        final = get(url, job.id)
        listed = httpx.get(f"{url}/v1/collections/uploads/documents", timeout=30).json()

    assert final.state == "succeeded"
    assert (final.files.ingested, final.files.failed) == (2, 1)
    assert [(f.source, f.reason) for f in final.failures] == [("bad.exe", "unsupported_type")]
    assert sorted(d["source"] for d in listed["data"]) == ["a.txt", "b.md"]
    assert not (tmp_path / "jobs" / "uploads" / job.id).exists()  # cleaned once done


def test_cancel_mid_job_keeps_what_was_written_and_the_index_consistent(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        (folder / f"doc-{i:03}.txt").write_text(f"Document {i}: " + "words about kettles " * 20)
    settings = job_settings(tmp_path, [folder], batch=4)
    with job_server(settings, SlowEmbedder(dimension=16, batch_size=4)) as (url, runtime):
        job = start(url, "many", paths=[str(folder)])
        with httpx.stream("GET", f"{url}/v1/jobs/{job.id}/events", timeout=TIMEOUT) as stream:
            for line in stream.iter_lines():
                if line and json.loads(line).get("file", {}).get("status") == "ingested":
                    break
        cancelled = httpx.delete(f"{url}/v1/jobs/{job.id}", timeout=60)
        assert cancelled.status_code == 200, cancelled.text
        done = JobPublic.model_validate(cancelled.json())
        time.sleep(1)  # writes already handed to Chroma's threads land
        documents = runtime.store.list_documents("many")
        report = check_collection(runtime.store, "many")
        again = get(url, job.id)

    assert done.state == again.state == "cancelled"
    assert 0 < done.files.ingested < 300
    assert done.files.processed < done.files.total == 300
    assert report.clean, report.problems
    # what the job says it ingested is in the index; the rest was left untouched
    assert done.files.ingested <= len(documents) < 300


def many_files(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"doc-{i:03}.txt").write_text(f"Document {i}: " + "words about kettles " * 20)
    return folder


def test_jobs_run_one_at_a_time_in_order_and_queries_answer_meanwhile(tmp_path):
    first, second = many_files(tmp_path / "first", 40), many_files(tmp_path / "second", 5)
    settings = job_settings(tmp_path, [tmp_path], batch=4, max_jobs=1)
    with job_server(settings, SlowEmbedder(dimension=16, batch_size=4)) as (url, _runtime):
        one = start(url, "first", paths=[str(first)])
        two = start(url, "second", paths=[str(second)])
        waiting = get(url, two.id)
        search = httpx.post(
            f"{url}/v1/search", json={"query": "kettles", "collection": "first"}, timeout=30
        )
        follow(url, two.id)
        one_done, two_done = get(url, one.id), get(url, two.id)

    assert waiting.state == "queued"
    assert search.status_code in (200, 404), search.text  # answered while the job runs
    assert one_done.state == two_done.state == "succeeded"
    assert two_done.started_at >= one_done.finished_at
    assert (one_done.files.ingested, two_done.files.ingested) == (40, 5)


def test_a_job_that_cannot_embed_fails_with_the_error_code(tmp_path):
    folder = many_files(tmp_path / "docs", 2)
    with job_server(job_settings(tmp_path, [folder]), DownEmbedder(dimension=16)) as (url, _rt):
        job = start(url, "down", paths=[str(folder)])
        events = follow(url, job.id)
        final = get(url, job.id)
    assert final.state == "failed"
    assert final.error is not None
    assert final.error.code == "ollama_unavailable"
    assert events[-1]["job"]["state"] == "failed"


def test_the_upload_route_over_its_limit_points_to_jobs(tmp_path):
    with job_server(job_settings(tmp_path, [])) as (url, _runtime):
        files = [("files", ("big.txt", b"x" * 50_000, "text/plain"))]
        refused = httpx.post(f"{url}/v1/collections/big/documents", files=files, timeout=30)
        accepted = httpx.post(f"{url}/v1/collections/big/jobs", files=files, timeout=30)
    assert refused.status_code == 413
    assert "POST /v1/collections/NAME/jobs" in refused.json()["error"]["message"]
    assert accepted.status_code == 202


def test_paths_outside_the_roots_are_refused_with_the_setting_named(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to("/etc")
    with job_server(job_settings(tmp_path, [allowed])) as (url, _runtime):
        answers = [
            httpx.post(f"{url}/v1/collections/c1x/jobs", json={"paths": [p]}, timeout=30)
            for p in ["/etc", str(allowed / ".." / ".."), str(allowed / "escape")]
        ]
        missing = httpx.post(
            f"{url}/v1/collections/c1x/jobs", json={"paths": [str(allowed / "nope")]}, timeout=30
        )
        unknown = httpx.get(f"{url}/v1/jobs/nope", timeout=30)
    for answer in answers:
        assert answer.status_code == 403, answer.text
        error = answer.json()["error"]
        assert error["code"] == "path_not_allowed"
        assert "Expected a path under DOCENT_INGEST_ROOTS" in error["message"]
    assert missing.status_code == 400
    assert missing.json()["error"]["message"].startswith("Expected an existing file or folder")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "job_not_found"


def test_without_roots_server_side_paths_are_refused(tmp_path):
    with job_server(job_settings(tmp_path, [])) as (url, _runtime):
        answer = httpx.post(f"{url}/v1/collections/c1x/jobs", json={"paths": ["/tmp"]}, timeout=30)
    assert answer.status_code == 403
    assert "disabled" in answer.json()["error"]["message"]
    assert "DOCENT_INGEST_ROOTS" in answer.json()["error"]["message"]


# -- a real `docent serve`, killed mid-job -----------------------------------------------


def write_corpus(folder: Path, files: int) -> None:
    folder.mkdir()
    words = ["kettle", "boils", "warranty", "hours", "litre", "opening", "nine", "five", "free"]
    for i in range(files):
        text = " ".join(words[(i + j) % len(words)] for j in range(90))
        (folder / f"part-{i:02}.txt").write_text(f"Part {i}. {text}")


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"docent serve did not start (exit {process.poll()})")


def wait_for(url: str, job_id: str, done: callable, timeout: float = TIMEOUT) -> JobPublic:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while True:
        job = get(url, job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def documents(url: str, collection: str) -> dict[str, tuple[str, int]]:
    listed = httpx.get(f"{url}/v1/collections/{collection}/documents", timeout=30).json()
    return {d["source"]: (d["content_hash"], d["chunk_count"]) for d in listed["data"]}


def test_kill_9_mid_job_then_restart_resumes_to_the_same_index(
    ollama_host, embed_model, chat_model, tmp_path
):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 30)
    env = {
        **os.environ,
        "OLLAMA_HOST": ollama_host,
        "DOCENT_EMBED_MODEL": embed_model,
        "DOCENT_CHAT_MODEL": chat_model,
        "DOCENT_CHROMA_PATH": str(tmp_path / "chroma"),
        "DOCENT_CHUNK_SIZE": "32",
        "DOCENT_CHUNK_OVERLAP": "4",
        "DOCENT_EMBED_BATCH_SIZE": "8",
        "DOCENT_INGEST_ROOTS": str(tmp_path),
    }
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
        wait_until_up(url, server)
        job = start(url, "killed", paths=[str(corpus)])
        seen = wait_for(url, job.id, lambda j: j.files.ingested >= 3 or j.state != "running")
        assert seen.state == "running", "the job ended before it could be killed"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    with running_server(env) as url:
        resumed = wait_for(url, job.id, lambda j: j.state not in ("queued", "running"))
        reference = start(url, "reference", paths=[str(corpus)])
        wait_for(url, reference.id, lambda j: j.state not in ("queued", "running"))
        killed_docs, reference_docs = documents(url, "killed"), documents(url, "reference")
    check = subprocess.run(
        [sys.executable, "-m", "api.cli", "check", "killed"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert resumed.state == "succeeded"
    assert resumed.files.ingested + resumed.files.unchanged == 30
    assert resumed.files.ingested >= seen.files.ingested  # what finished before stays ingested
    assert killed_docs == reference_docs
    assert len(killed_docs) == 30
    assert check.returncode == 0, repr(check.stdout + check.stderr)
