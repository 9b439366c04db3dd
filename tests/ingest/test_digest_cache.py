"""Digests remembered by ``stat``: an unchanged file is not read again, a changed one is.

The scans here run in this process (``ScanRequest.answer``, what the scan's child runs).
That a digest came from the cache and not from a read is shown by planting a digest no
read could produce in the cache file: the scan gives it back for a file whose signature
is unchanged, and the real digest for a file that was written meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from ingest.digest_cache import SETTLED_NS, DigestCache, digest_cache_folder
from ingest.scan import ScanRequest
from tests.ingest.test_cli import env_for, ingest, scifact_corpus, snapshot
from tests.ingest.test_kill_ingest import fast_model

PLANTED = "f" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan(root: Path, cache: Path, settled_ns: int = 0, glob: str | None = None) -> dict[str, str]:
    request = ScanRequest(
        (str(root),), glob, None, 1 << 20, digest_cache=str(cache), settled_ns=settled_ns
    )
    kind, (rows, _, _) = request.answer()
    assert kind == "found"
    return {source: digest for source, _, _, digest in rows}


def cache_file(cache: Path) -> Path:
    [path] = list(cache.glob("*.json"))
    return path


def plant(cache: Path, source: str) -> None:
    path = cache_file(cache)
    data = json.loads(path.read_text())
    data["files"][source][-1] = PLANTED
    path.write_text(json.dumps(data))


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for name in ("a.txt", "b.txt", "c.md"):
        (root / name).write_text(f"the text of {name}", encoding="utf-8")
    return root


def test_an_unchanged_file_is_answered_from_the_cache_and_a_written_one_is_read(tmp_path):
    root, cache = folder(tmp_path), tmp_path / "digests"
    first = scan(root, cache)
    assert first == {n: sha(f"the text of {n}".encode()) for n in ("a.txt", "b.txt", "c.md")}
    plant(cache, "a.txt")
    plant(cache, "b.txt")
    # b: same size, its modification time put back: only its change time tells (a tick
    # later than its first write: the real delay, SETTLED_NS, is what makes sure of that)
    time.sleep(0.05)
    before = (root / "b.txt").stat()
    (root / "b.txt").write_text("the text of B.txt", encoding="utf-8")
    os.utime(root / "b.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (root / "b.txt").stat().st_mtime_ns == before.st_mtime_ns
    second = scan(root, cache)
    assert second["a.txt"] == PLANTED  # not read
    assert second["b.txt"] == sha(b"the text of B.txt")
    assert second["c.md"] == first["c.md"]


def test_a_file_replaced_by_a_rename_is_read_again(tmp_path):
    root, cache = folder(tmp_path), tmp_path / "digests"
    scan(root, cache)
    plant(cache, "a.txt")
    staged = tmp_path / "staged.txt"
    staged.write_text("the text of A.txt", encoding="utf-8")  # same size
    stat = (root / "a.txt").stat()
    os.utime(staged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    staged.replace(root / "a.txt")  # an editor's save: a new inode
    assert scan(root, cache)["a.txt"] == sha(b"the text of A.txt")


def test_a_file_changed_just_before_it_was_read_is_not_remembered(tmp_path):
    # with the real delay: these files were written a moment ago, so a write in the same
    # timestamp tick as the read could go unseen; the next scan reads them again
    root, cache = folder(tmp_path), tmp_path / "digests"
    assert SETTLED_NS >= 2_000_000_000
    scan(root, cache, settled_ns=SETTLED_NS)
    assert not list(cache.glob("*.json"))  # nothing to remember
    remembered = DigestCache(cache, str(root), settled_ns=SETTLED_NS)
    status = (root / "a.txt").stat()
    remembered.remember("a.txt", status, PLANTED, read_at=time.time_ns())
    assert remembered.digest("a.txt", status) is None
    remembered.remember("a.txt", status, PLANTED, read_at=time.time_ns() + SETTLED_NS + 1)
    assert remembered.digest("a.txt", status) == PLANTED


def test_removed_files_leave_the_cache_after_a_walk_of_the_whole_folder(tmp_path):
    root, cache = folder(tmp_path), tmp_path / "digests"
    scan(root, cache)
    (root / "c.md").unlink()
    scan(root, cache, glob="*.txt")  # a partial walk forgets nothing
    assert set(json.loads(cache_file(cache).read_text())["files"]) == {"a.txt", "b.txt", "c.md"}
    scan(root, cache)
    assert set(json.loads(cache_file(cache).read_text())["files"]) == {"a.txt", "b.txt"}


def test_an_unreadable_or_foreign_cache_only_costs_reading_again(tmp_path):
    root, cache = folder(tmp_path), tmp_path / "digests"
    first = scan(root, cache)
    path = cache_file(cache)
    path.write_text("{not json")
    assert scan(root, cache) == first
    data = json.loads(path.read_text())
    data["root"] = "/somewhere/else"
    data["files"]["a.txt"][-1] = PLANTED
    path.write_text(json.dumps(data))
    assert scan(root, cache) == first  # another folder's entries are not used


def test_docent_ingest_reads_again_only_what_changed_and_stores_what_the_files_hold(
    tmp_path, ollama_host, embed_model
):
    docs = scifact_corpus(tmp_path / "docs", 12)
    chroma = tmp_path / "chroma"
    env = env_for(ollama_host, fast_model(ollama_host, embed_model), chroma)
    time.sleep(SETTLED_NS / 1e9 + 0.2)  # left alone long enough for the scan to remember

    def run(store: Path) -> dict[str, int]:
        done = ingest(
            {**env, "DOCENT_CHROMA_PATH": str(store)}, str(docs), "--json", "-c", "abstracts"
        )
        assert done.returncode == 0, done.stderr[-2000:]
        files: dict[str, int] = json.loads(done.stdout)["files"]
        return files

    assert run(chroma)["ingested"] == 12
    remembered = json.loads(cache_file(digest_cache_folder(chroma)).read_text())["files"]
    assert set(remembered) == {p.name for p in docs.iterdir()}
    edited, rewritten = sorted(docs.iterdir())[:2]
    status, data = edited.stat(), edited.read_bytes()
    edited.write_bytes((b"Y" if data[:1] == b"X" else b"X") + data[1:])  # same size
    os.utime(edited, ns=(status.st_atime_ns, status.st_mtime_ns))  # and the same mtime
    rewritten.write_text("A rewritten abstract about kettles.", encoding="utf-8")
    second = run(chroma)
    assert (second["ingested"], second["unchanged"]) == (2, 10)

    fresh = tmp_path / "fresh"  # what is stored is what a run without any cache stores
    assert run(fresh)["ingested"] == 12
    assert (
        snapshot(chroma, "abstracts")[1] == snapshot(fresh, "abstracts")[1]
    )  # versions: content hashes
    texts = " ".join(text for _, text, _ in snapshot(chroma, "abstracts")[0])
    assert "kettles" in texts
    assert edited.read_text(encoding="utf-8")[:40] in texts
