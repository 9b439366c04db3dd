"""``docent ingest --watch``: real files, real OS events (watchfiles), a real Chroma."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.results import FileResult
from ingest.service import ingest_paths
from ingest.sources import content_hash
from ingest.watch import Watched, is_temporary, plan, watch_folders
from retrieval.errors import CollectionNotFound

WAIT_SECONDS = 30
REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def watching(
    ingestor: Ingestor, folder: Path, collection: str
) -> AsyncIterator[tuple[list[FileResult], asyncio.Task[None]]]:
    """The folder ingested once, then watched until the block ends; the lines reported."""
    await ingest_paths(ingestor, [folder], collection=collection)
    lines: list[FileResult] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_folders(
            ingestor,
            [folder],
            collection=collection,
            report=lines.append,
            stop_event=stop,
            quiet_seconds=0.1,
        )
    )
    await asyncio.sleep(0.5)  # the OS watch is set up when the task first runs
    try:
        yield lines, task
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS) if not task.done() else None


async def until(ingestor: Ingestor, collection: str, holds: Callable[[dict[str, str]], bool]):
    """Wait until the collection's documents (source -> content hash) satisfy ``holds``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        docs = {
            d.source: d.content_hash
            for d in await asyncio.to_thread(ingestor.store.list_documents, collection)
        }
        if holds(docs):
            return docs
        if time.monotonic() > deadline:
            pytest.fail(f"the watch did not reach the expected state; documents: {docs}")
        await asyncio.sleep(0.1)


async def test_a_watch_sees_create_change_rename_atomic_save_and_delete(tmp_path, memory_ingestor):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keep.txt").write_text("This file is there from the start.")
    async with watching(memory_ingestor, folder, "watched") as (lines, _task):
        (folder / "new.txt").write_text("The kettle boils a litre.")
        await until(memory_ingestor, "watched", lambda d: "new.txt" in d)

        with (folder / "new.txt").open("a") as file:  # a burst of partial writes
            for word in ["The", " warranty", " lasts", " two", " years."]:
                file.write(word)
                file.flush()
                await asyncio.sleep(0.02)
        changed = content_hash(b"The kettle boils a litre.The warranty lasts two years.")
        await until(memory_ingestor, "watched", lambda d: d.get("new.txt") == changed)

        (folder / "new.txt").rename(folder / "moved.txt")
        await until(memory_ingestor, "watched", lambda d: "moved.txt" in d and "new.txt" not in d)

        temporary = folder / ".moved.txt.swp"  # an editor's atomic save: temp, then rename
        temporary.write_text("Saved atomically by an editor.")
        os.replace(temporary, folder / "moved.txt")
        saved = content_hash(b"Saved atomically by an editor.")
        await until(memory_ingestor, "watched", lambda d: d.get("moved.txt") == saved)

        (folder / "moved.txt").unlink()
        docs = await until(memory_ingestor, "watched", lambda d: "moved.txt" not in d)

    assert set(docs) == {"keep.txt"}
    assert not any(is_temporary(line.source) for line in lines)
    said = [(line.status, line.source) for line in lines]
    assert said[0] == ("ingested", "new.txt")
    assert ("removed", "new.txt") in said
    assert said[-1] == ("removed", "moved.txt")
    assert all(status in ("ingested", "removed") for status, _ in said)


async def test_a_failing_file_is_reported_and_the_watch_goes_on(tmp_path, memory_ingestor):
    folder = tmp_path / "docs"
    folder.mkdir()
    async with watching(memory_ingestor, folder, "failing") as (lines, task):
        (folder / "broken.pdf").write_bytes(b"this is not a PDF at all")
        (folder / "notes.exe").write_bytes(b"MZ")
        await asyncio.sleep(0.2)
        (folder / "fine.txt").write_text("Still indexed after a broken file.")
        await until(memory_ingestor, "failing", lambda d: "fine.txt" in d)
        assert not task.done()
    by_source = {line.source: line for line in lines}
    assert by_source["broken.pdf"].status == "failed"
    assert by_source["broken.pdf"].reason == "malformed"
    assert by_source["notes.exe"].reason == "unsupported_type"


async def test_a_deleted_collection_ends_the_watch_with_a_clear_error(tmp_path, memory_ingestor):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("First.")
    async with watching(memory_ingestor, folder, "vanishing") as (_lines, task):
        await asyncio.to_thread(memory_ingestor.store.delete_collection, "vanishing")
        (folder / "b.txt").write_text("Second.")
        with pytest.raises(CollectionNotFound, match="was deleted while it was watched"):
            await asyncio.wait_for(task, WAIT_SECONDS)


def test_a_moved_folder_brings_its_files_and_temporary_names_are_ignored(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.md").write_text("# A")
    (root / "sub" / "b.txt~").write_text("backup")
    from watchfiles import Change

    watched = Watched([root.resolve()])
    batch = plan(
        watched,
        {
            (Change.added, str(root / "sub")),
            (Change.deleted, str(root / "gone")),
            (Change.added, str(root / "#draft.txt#")),
            (Change.added, str(root / "4913")),
        },
    )
    assert [f.source for f in batch.files] == ["sub/a.md"]
    assert batch.gone == ["gone"]


def test_watch_refuses_dry_run_and_files(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    env = {**os.environ, "DOCENT_CHROMA_PATH": str(tmp_path / "chroma")}
    for args in (["--watch", "--dry-run", str(tmp_path)], ["--watch", str(tmp_path / "a.txt")]):
        result = subprocess.run(
            [sys.executable, "-m", "api.cli", "ingest", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--watch cannot be combined with --dry-run" in result.stderr or (
            "Expected folders to watch" in result.stderr
        )
