"""The isolated reader keeps serving after a worker it had to kill could not be replaced."""

import pytest

from ingest.chunking import ChunkingPlan
from ingest.isolation import IsolatedReader, _Worker
from ingest.results import FileFailure
from tests.datasets import DATASETS

SLOW_PDF = DATASETS / "pdfs/py-pdf-sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"
PLAN = ChunkingPlan(size=100, overlap=10, limit=128)


def test_a_failed_restart_frees_the_slot_instead_of_hanging():
    reader = IsolatedReader(workers=1, timeout_seconds=1.0, memory_mb=1024)
    spawned = []

    def spawn_then_fail_once(context, memory_mb):
        spawned.append(memory_mb)
        if len(spawned) == 2:  # the replacement after the timeout
            raise OSError("cannot fork")
        return _Worker(context, memory_mb)

    reader._spawn = spawn_then_fail_once
    try:
        with pytest.raises(FileFailure) as failure:
            reader.read("slow.pdf", SLOW_PDF.read_bytes(), PLAN)
        assert failure.value.reason == "timeout"
        outcome = reader.read("fine.txt", b"A small fine document.", PLAN)
        assert [piece.text for piece in outcome.pieces] == ["A small fine document."]
        assert len(spawned) == 3
        assert reader.restarts == 1
    finally:
        reader.close()


def test_a_batch_gets_one_result_per_file_and_a_slow_file_fails_alone():
    reader = IsolatedReader(workers=1, timeout_seconds=1.0, memory_mb=1024)
    files = [
        ("a.txt", b"The first small document."),
        ("empty.txt", b""),
        ("slow.pdf", SLOW_PDF.read_bytes()),
        ("b.txt", b"The last small document."),
    ]
    try:
        results = reader.read_many(files, PLAN)
        assert len(results) == 4
        first, empty, slow, last = results
        assert not isinstance(first, FileFailure)
        assert [p.text for p in first.pieces] == ["The first small document."]
        assert isinstance(empty, FileFailure)
        assert empty.reason == "empty"
        assert isinstance(slow, FileFailure)
        assert slow.reason == "timeout"
        # the file after the timeout is read by the fresh worker
        assert not isinstance(last, FileFailure)
        assert [p.text for p in last.pieces] == ["The last small document."]
        assert reader.restarts == 1
    finally:
        reader.close()
