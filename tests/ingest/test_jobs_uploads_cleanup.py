"""Uploaded files leave the jobs folder: when their job ends, and after a stop at any moment.

A stop between storing an upload and queueing its job, or between a job's end and the
removal of its files, must not keep the uploaded text on disk for good: the next start
removes every upload folder that no unfinished job will read, and keeps the others.
"""

from __future__ import annotations

from pathlib import Path

from ingest.jobs import JobRunner
from ingest.jobs_store import Job, JobSpec, JobTable
from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder


def _staged(jobs: Path, job_id: str, text: str) -> Path:
    folder = jobs / "uploads" / job_id
    folder.mkdir(parents=True)
    (folder / "note.txt").write_text(text, encoding="utf-8")
    return folder


async def test_a_restart_removes_uploads_no_unfinished_job_will_read(tmp_path, test_settings):
    jobs = tmp_path / "jobs"
    table = JobTable(jobs)
    finished = _staged(jobs, "finished", "text of a job that ended before its files went")
    table.insert(Job(id="finished", collection="notes", spec=JobSpec("uploads", (str(finished),))))
    done = table.load()[0]
    done.state = "succeeded"
    table.save(done)
    waiting = _staged(jobs, "waiting", "zorbleflux waits in a queued job")
    table.insert(Job(id="waiting", collection="notes", spec=JobSpec("uploads", (str(waiting),))))
    orphan = _staged(jobs, "orphan", "text stored, then the server stopped before queueing")
    table.close()

    store = ChunkStore.ephemeral()
    ingestor = Ingestor(store, FakeEmbedder(), test_settings, reader=InProcessReader())
    runner = JobRunner(Settings(), lambda: ingestor, folder=jobs)
    await runner.start()
    assert not orphan.exists()
    assert not finished.exists()
    resumed = await runner.get("waiting")
    task = runner._tasks.get("waiting")
    if task is not None:
        await task
    assert resumed.state == "succeeded", resumed.error_message
    assert resumed.count("ingested") == 1  # its files were kept until it read them
    assert [d.source for d in store.list_documents("notes")] == ["note.txt"]
    assert not waiting.exists()  # and removed once it ended
    await runner.aclose()
