"""Walk and hash a run's files in a child process while ``docent ingest`` starts up.

Before it can look up one record, ``docent ingest`` imports Docent (about 1.1 s on this
machine, chromadb most of it). An unchanged re-ingest of 10,000 files then spent about
0.5 s more walking the folders and reading and hashing every file. Both are CPU work, so
in one process they add up. :func:`start_scan` starts a small interpreter that imports
only :mod:`ingest.sources` and does the walk and the hashing on the other core meanwhile.
Its answer is the run's :class:`~ingest.sources.Discovery`, each file with its ``digest``:
the read stage tells an unchanged file by it without reading the file again (a file that
is read is hashed again, so what is stored always matches what was read). A file whose
``stat`` is the one remembered with its digest (:mod:`ingest.digest_cache`) is not read.

A scan only saves time. If the child cannot be started, fails or answers nonsense, the
discovery is made in this process instead, and errors about the paths (a missing folder,
two roots with one document name) are the ones :func:`~ingest.sources.discover` raises.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.digest_cache import SETTLED_NS, DigestCache
from ingest.sources import Discovery, Shard, SourceFile, content_hash, discover
from retrieval.errors import InvalidRequest

logger = logging.getLogger(__name__)

HASH_BUDGET_BYTES = 64 << 20
"""The scan hashes files until it has read this many bytes; later files are hashed by the
run when it reads them, as without a scan (this bounds what a first ingest of large files
reads twice, and how long the run waits for the scan)."""

_CHILD = "from ingest.scan import serve_scan; serve_scan()"

Row = tuple[str, str, str, str | None]
"""A found file: source, path, root, digest (None: not hashed)."""


@dataclass(frozen=True)
class ScanRequest:
    """What to walk, as :func:`~ingest.sources.discover` takes it, and what to hash.

    Files over ``max_file_bytes`` are left to the run, which reports them too large.
    Digests are remembered in ``digest_cache`` (a folder; None: none) for files left
    alone ``settled_ns`` before they were read.
    """

    paths: tuple[str, ...]
    glob: str | None
    shard: Shard | None
    max_file_bytes: int
    hash_budget: int = HASH_BUDGET_BYTES
    digest_cache: str | None = None
    settled_ns: int = SETTLED_NS

    def discover(self) -> Discovery:
        return discover([Path(p) for p in self.paths], self.glob, self.shard)

    def answer(self) -> tuple[str, Any]:
        """What the child sends back.

        ``("found", (rows, skipped, present))``, or ``("invalid", message)`` when
        :func:`~ingest.sources.discover` refuses the paths.
        """
        try:
            found = self.discover()
        except InvalidRequest as exc:
            return "invalid", str(exc)
        budget = self.hash_budget
        caches: dict[str, DigestCache] = {}
        rows: list[Row] = []
        for file in found.files:
            digest = None
            if file.path is not None:
                cache = self._cache(caches, file.root)
                digest = _remembered(file.path, file.source, cache)
                if digest is None and budget > 0:
                    digest, size = self._hashed(file.path, file.source, cache)
                    budget -= size
            rows.append((file.source, str(file.path), file.root, digest))
        for root, cache in caches.items():
            if self.glob is None and root in found.present:  # the whole folder was walked
                cache.keep_only(found.present[root])
            cache.save()
        return "found", (rows, found.skipped, found.present)

    def _cache(self, caches: dict[str, DigestCache], root: str) -> DigestCache | None:
        if self.digest_cache is None:
            return None
        if root not in caches:
            caches[root] = DigestCache(Path(self.digest_cache), root, self.settled_ns)
        return caches[root]

    def _hashed(self, path: Path, source: str, cache: DigestCache | None) -> tuple[str | None, int]:
        """The file's digest (None: unreadable or too large) and the bytes read."""
        read_at = time.time_ns()
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > self.max_file_bytes:
                    return None, 0
                data = handle.read()
                status = os.fstat(handle.fileno())
        except OSError:  # the run reports it when it reads the file
            return None, 0
        digest = content_hash(data)
        if cache is not None:
            cache.remember(source, status, digest, read_at)
        return digest, len(data)


def _remembered(path: Path, source: str, cache: DigestCache | None) -> str | None:
    if cache is None:
        return None
    try:
        return cache.digest(source, os.stat(path))
    except OSError:
        return None


class BackgroundScan:
    """A scan running in a child process; :meth:`discovery` waits for its answer."""

    def __init__(self, request: ScanRequest) -> None:
        self.request = request
        self._reply: bytes | None = None
        self._found: Discovery | None = None
        self._child: subprocess.Popen[bytes] | None = None
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-P", "-c", _CHILD],  # -P: not the working directory's modules
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            logger.debug("event=scan_not_started reason=%s", exc)
            return
        # the answer (about 60 bytes a file) is read as it comes: a pipe holds only 64 KiB
        self._waiter = threading.Thread(target=self._talk, name="docent-scan", daemon=True)
        self._waiter.start()

    def _talk(self) -> None:
        assert self._child is not None
        try:
            out, err = self._child.communicate(pickle.dumps(self.request))
        except OSError as exc:
            logger.debug("event=scan_failed reason=%s", exc)
            return
        if self._child.returncode == 0:
            self._reply = out
        else:
            status, tail = self._child.returncode, err[-500:]
            logger.debug("event=scan_failed status=%s stderr=%r", status, tail)

    def discovery(self) -> Discovery:
        """The scan's discovery (blocking, then kept), or one made here if the scan has none.

        Raises:
            InvalidRequest: as :func:`~ingest.sources.discover` does.
        """
        if self._found is None:
            if self._child is not None:
                self._waiter.join()
            answer = self._decoded()
            if isinstance(answer, str):
                raise InvalidRequest(answer)
            self._found = self.request.discover() if answer is None else answer
        return self._found

    def _decoded(self) -> Discovery | str | None:
        """The child's discovery, its message refusing the paths, or None (no answer)."""
        if self._reply is None:
            return None
        try:
            kind, body = pickle.loads(self._reply)  # our own child's answer
            if kind != "found":
                return str(body)
            rows, skipped, present = body
            files = [SourceFile(s, Path(p), root=r, digest=d) for s, p, r, d in rows]
            return Discovery(files=files, skipped=list(skipped), present=dict(present))
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
            logger.debug("event=scan_unreadable reason=%s", exc)
            return None


def start_scan(
    paths: list[Path],
    *,
    glob: str | None,
    shard: str | None,
    max_file_mb: float,
    digest_cache: Path | None = None,
) -> BackgroundScan | None:
    """Start scanning ``paths`` (as ``docent ingest`` got them) in a child process.

    None when the shard text is invalid: the run reports that itself.
    """
    try:
        parsed = Shard.parse(shard) if shard is not None else None
    except InvalidRequest:
        return None
    request = ScanRequest(
        tuple(str(p) for p in paths),
        glob,
        parsed,
        int(max_file_mb * 1024 * 1024),
        digest_cache=None if digest_cache is None else str(digest_cache),
    )
    return BackgroundScan(request)


def serve_scan() -> None:
    """The child: read a :class:`ScanRequest` on stdin, write its answer on stdout."""
    request = pickle.load(sys.stdin.buffer)
    if not isinstance(request, ScanRequest):
        raise SystemExit(f"Expected a ScanRequest on stdin, got {type(request).__name__}.")
    sys.stdout.buffer.write(pickle.dumps(request.answer(), protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
