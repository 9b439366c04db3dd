"""The background scan: a child process finds what :func:`discover` finds, with digests."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.results import IngestReport
from ingest.scan import BackgroundScan, ScanRequest, start_scan
from ingest.service import ingest_paths
from ingest.sources import Discovery, Shard, discover
from retrieval.errors import InvalidRequest
from retrieval.store import doc_id_for


def a_folder(root: Path) -> Path:
    files = {
        "a.md": "alpha",
        "b.txt": "bravo " * 100,
        "notes.xyz": "not a document",
        "sub/c.md": "charlie",
        ".hidden.md": "left out",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def without_digests(found: Discovery) -> list[tuple[str, Path | None, str]]:
    return [(f.source, f.path, f.root) for f in found.files]


def test_a_scan_finds_what_discover_finds_with_each_files_hash(tmp_path: Path) -> None:
    root = a_folder(tmp_path)

    scan = start_scan([root], glob=None, shard=None, max_file_mb=1)
    assert scan is not None
    found = scan.discovery()

    expected = discover([root])
    assert without_digests(found) == without_digests(expected)
    assert found.skipped == expected.skipped
    assert found.present == expected.present
    for file in found.files:
        assert file.path is not None
        assert file.digest == hashlib.sha256(file.path.read_bytes()).hexdigest()


def test_a_scan_with_a_glob_and_a_shard_keeps_them(tmp_path: Path) -> None:
    root = a_folder(tmp_path)
    for i in range(20):
        (root / f"n{i}.md").write_text(f"note {i}", encoding="utf-8")

    scan = start_scan([root], glob="*.md", shard="2/3", max_file_mb=1)
    assert scan is not None

    expected = discover([root], "*.md", Shard(2, 3))
    assert without_digests(scan.discovery()) == without_digests(expected)
    assert 0 < len(expected.files) < 21


def test_files_over_the_size_limit_or_the_hash_budget_are_left_to_the_run(
    tmp_path: Path,
) -> None:
    root = a_folder(tmp_path)
    (root / "big.txt").write_bytes(b"x" * 2048)
    request = ScanRequest((str(root),), None, None, max_file_bytes=1024, hash_budget=5)

    kind, (rows, _skipped, _present) = request.answer()

    digests = {source: digest for source, _path, _root, digest in rows}
    assert kind == "found"
    assert digests["a.md"] is not None  # the first 5 bytes: within the budget
    assert digests["big.txt"] is None  # over max_file_bytes: the run reports it too large
    assert digests["b.txt"] is None  # past the budget
    assert digests["sub/c.md"] is None


def test_a_path_that_does_not_exist_raises_what_discover_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    scan = start_scan([missing], glob=None, shard=None, max_file_mb=1)
    assert scan is not None

    with pytest.raises(InvalidRequest) as raised:
        scan.discovery()
    with pytest.raises(InvalidRequest) as expected:
        discover([missing])
    assert str(raised.value) == str(expected.value)


def test_without_a_child_the_discovery_is_made_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = a_folder(tmp_path)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))

    scan = BackgroundScan(ScanRequest((str(root),), None, None, max_file_bytes=1024))
    found = scan.discovery()

    assert without_digests(found) == without_digests(discover([root]))
    assert all(f.digest is None for f in found.files)  # the run hashes what it reads


def test_a_child_that_fails_leaves_the_discovery_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = a_folder(tmp_path)
    monkeypatch.setattr("ingest.scan._CHILD", "raise SystemExit(3)")

    found = BackgroundScan(ScanRequest((str(root),), None, None, max_file_bytes=1024)).discovery()

    assert without_digests(found) == without_digests(discover([root]))


def test_an_invalid_shard_starts_no_scan(tmp_path: Path) -> None:
    assert start_scan([tmp_path], glob=None, shard="5/2", max_file_mb=1) is None


# -- a run given a scan: unchanged by the scan's digest, re-read and re-hashed otherwise -----


def chunk_texts(ingestor: Ingestor, source: str) -> list[str]:
    doc = doc_id_for(source)
    return [c.text for c in ingestor.store.iter_chunks("default") if c.metadata["doc_id"] == doc]


async def ingest_with_scan(ingestor: Ingestor, root: Path, scan: BackgroundScan) -> IngestReport:
    return await ingest_paths(ingestor, [root], scan=scan)


async def test_a_file_the_scan_found_unchanged_is_not_read_again(
    memory_ingestor: Ingestor, tmp_path: Path
) -> None:
    root = a_folder(tmp_path)
    assert (await ingest_paths(memory_ingestor, [root])).count("ingested") == 3
    scan = start_scan([root], glob=None, shard=None, max_file_mb=1)
    assert scan is not None
    scan.discovery()  # the scan has hashed every file
    (root / "a.md").unlink()  # read now, it would fail as unreadable

    report = await ingest_with_scan(memory_ingestor, root, scan)

    assert report.ok
    assert (report.count("unchanged"), report.embedding_calls) == (3, 0)


async def test_a_file_changed_after_the_scan_is_stored_as_it_is_read(
    memory_ingestor: Ingestor, tmp_path: Path
) -> None:
    root = a_folder(tmp_path)
    await ingest_paths(memory_ingestor, [root])
    (root / "a.md").write_text("scanned words", encoding="utf-8")
    scan = start_scan([root], glob=None, shard=None, max_file_mb=1)
    assert scan is not None
    scan.discovery()
    (root / "a.md").write_text("words written after the scan", encoding="utf-8")

    report = await ingest_with_scan(memory_ingestor, root, scan)

    assert (report.count("ingested"), report.count("unchanged")) == (1, 2)
    assert chunk_texts(memory_ingestor, "a.md") == ["words written after the scan"]
    record = memory_ingestor.store.get_records("default", [doc_id_for("a.md")])
    expected = hashlib.sha256(b"words written after the scan").hexdigest()
    assert record[doc_id_for("a.md")].content_hash == expected
    again = await ingest_paths(memory_ingestor, [root])  # and a walk agrees with what is stored
    assert again.count("unchanged") == 3
