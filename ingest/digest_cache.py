"""Files' digests remembered by their ``stat``, so that an unchanged file is not read again.

A re-ingest must tell which files changed. Hashing every file read the whole folder
each time: editing one document of a 32,573-file folder spent about 1.5 s waiting for
the scan to hash 48 MB, and a folder of large PDFs is read in full on every run. Like
git's index, :class:`DigestCache` remembers each file's SHA-256 with its ``stat``
signature (inode, size, modification and change times, in nanoseconds) and gives the
digest back while the signature is the same.

Any write to a file sets its change time (``ctime``) to the current time, and nothing
can set it back (``os.utime`` sets it too). So a signature is trusted only when the file
had not changed for :data:`SETTLED_NS` before it was read: a later write then shows as
another ``ctime`` even on a file system with coarse timestamps, and a file written
while it was read is hashed again next time. A renamed or copied file has another inode.

The cache is a cache: a missing, unreadable or foreign file only costs reading the
files again. One JSON file per root folder, under ``<DOCENT_CHROMA_PATH>/docent-digests``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from retrieval.files import file_signature, replace_json

logger = logging.getLogger(__name__)

DIGEST_CACHE_DIR = "docent-digests"
SETTLED_NS = 3_000_000_000
"""How long a file must have been left alone before it was read for its digest to be
remembered (longer than the coarsest file-system timestamp, FAT's 2 s)."""


def digest_cache_folder(chroma_path: str | Path) -> Path:
    """Where the digests are remembered, beside the store's own data."""
    return Path(chroma_path).expanduser() / DIGEST_CACHE_DIR


class DigestCache:
    """The remembered digests of one root folder's files (by source, relative to it)."""

    def __init__(self, folder: Path, root: str, settled_ns: int = SETTLED_NS) -> None:
        name = hashlib.sha256(root.encode("utf-8")).hexdigest()[:24]
        self.path = folder / f"{name}.json"
        self.root = root
        self.settled_ns = settled_ns
        self._entries = self._load()
        self._changed = False

    def _load(self) -> dict[str, list[object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("root") != self.root:
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def digest(self, source: str, status: os.stat_result) -> str | None:
        """The digest remembered for ``source`` if its signature is still ``status``'s."""
        entry = self._entries.get(source)
        if not isinstance(entry, list) or len(entry) != 5:
            return None
        *remembered, digest = entry
        if tuple(remembered) != file_signature(status) or not isinstance(digest, str):
            return None
        return digest

    def remember(self, source: str, status: os.stat_result, digest: str, read_at: int) -> None:
        """``source`` had ``digest`` when read at ``read_at``.

        ``read_at`` is ``time.time_ns()`` before the read, ``status`` the ``fstat`` after it.
        Kept only if the file had been left alone for ``settled_ns`` before the read.
        """
        if max(status.st_mtime_ns, status.st_ctime_ns) > read_at - self.settled_ns:
            self.forget(source)
            return
        self._entries[source] = [*file_signature(status), digest]
        self._changed = True

    def forget(self, source: str) -> None:
        if self._entries.pop(source, None) is not None:
            self._changed = True

    def keep_only(self, sources: set[str]) -> None:
        """Drop the files no longer in the folder (after a walk of the whole root)."""
        for gone in set(self._entries) - sources:
            self.forget(gone)

    def save(self) -> None:
        """Write the cache if it changed; a failure is logged (the next run reads again)."""
        if not self._changed:
            return
        try:
            replace_json(self.path, {"root": self.root, "files": self._entries})
            self._changed = False
        except OSError as exc:
            logger.warning("event=digest_cache_failed path=%s error=%s", self.path, exc)
