"""Write locks: one embedded writer process, document locks across processes, busy collections."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from retrieval.errors import Busy, StoreLocked
from retrieval.locks import StoreLocks, WriterClaim
from retrieval.store import ChunkStore, DocumentRecord, DocumentWrite
from retrieval.types import Chunk

HOLD = """
import sys, time
from pathlib import Path
from retrieval.locks import StoreLocks, WriterClaim
kind, folder = sys.argv[1], Path(sys.argv[2])
if kind == "claim":
    WriterClaim(folder).acquire("docent serve at http://127.0.0.1:8123")
    print("held", flush=True)
    sys.stdin.readline()
else:
    with StoreLocks(folder).document("docs", "0123456789abcdef"):
        print("held", flush=True)
        sys.stdin.readline()
"""


def hold_in_another_process(kind: str, folder: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, kind, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def release(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.close()
    process.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()


def test_a_second_writer_process_is_refused_with_the_holder_named(tmp_path):
    holder = hold_in_another_process("claim", tmp_path)
    try:
        with pytest.raises(
            StoreLocked, match=r"in use by docent serve at http://127\.0\.0\.1:8123"
        ):
            WriterClaim(tmp_path).acquire("docent ingest")
    finally:
        release(holder)
    claim = WriterClaim(tmp_path)
    claim.acquire("docent ingest")  # free once the holder is gone
    claim.release()


def test_claims_within_one_process_are_shared_and_counted(tmp_path):
    first, second = WriterClaim(tmp_path), WriterClaim(tmp_path)
    first.acquire("a")
    second.acquire("b")
    first.release()
    holder = subprocess.run(
        [sys.executable, "-c", HOLD, "claim", str(tmp_path)],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert holder.returncode != 0  # still held by `second`
    assert "StoreLocked" in holder.stderr
    second.release()


def test_a_document_lock_excludes_another_process(tmp_path):
    holder = hold_in_another_process("document", tmp_path)
    entered = threading.Event()

    def write() -> None:
        with StoreLocks(tmp_path).document("docs", "0123456789abcdef"):
            entered.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not entered.wait(0.5)  # waits for the other process
    release(holder)
    assert entered.wait(30)
    thread.join()


def test_a_write_waiting_for_a_rebuild_gives_up_busy_while_reads_go_on(tmp_path):
    store = ChunkStore.ephemeral()
    store.locks.wait_seconds = 0.3
    store.ensure_collection("docs", "m", 2)
    rebuild = store.begin_rebuild("docs", "m", 2)
    record = DocumentRecord("0123456789abcdef", "a.txt", "h", 1, "t", "v", "pending")
    chunk = Chunk(id="0123456789abcdef-v-00000", text="a", metadata={"doc_id": record.doc_id})
    write = DocumentWrite(record, [chunk], {chunk.id: [1.0, 0.0]})
    try:
        with pytest.raises(Busy, match="'docs' is being rebuilt or deleted"):
            store.write_documents("docs", [write], embed_model="m")
        assert store.get_collection("docs").chunk_count == 0
    finally:
        rebuild.abandon()
    assert store.write_documents("docs", [write], embed_model="m").written == [record.doc_id]
