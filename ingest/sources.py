"""Which files a run ingests: folder walks, globs, explicit files, in-memory uploads, shards."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders import is_supported
from ingest.results import FileResult
from retrieval.errors import InvalidRequest


def content_hash(data: bytes) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """One document to ingest, on disk (``path``) or in memory (``data``).

    ``source`` is its name in the index: the path relative to the ingest root (with
    ``/``), or an upload's file name. ``root`` is the absolute ingest root, used to scope
    ``--sync``; empty for uploads.
    """

    source: str
    path: Path | None = None
    data: bytes | None = None
    root: str = ""
    digest: str | None = None
    """Its :func:`content_hash` as a scan found it before the run (:mod:`ingest.scan`):
    enough to tell that it is unchanged; a file that is read is hashed again."""

    def read_within(self, limit: int) -> tuple[int, bytes | None]:
        """Its size in bytes, and its bytes unless that size is over ``limit``.

        A file on disk is sized by its open file, not by a ``stat`` of its path before
        the open (3% of an unchanged re-ingest's read stage in py-spy's samples).
        """
        if self.data is not None:
            size = len(self.data)
            return size, self.data if size <= limit else None
        if self.path is None:
            raise InvalidRequest(f"Expected a path or bytes for {self.source!r}, got neither.")
        with open(self.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            return size, handle.read() if size <= limit else None


def path_of(file: SourceFile) -> str:
    """Where a file's report says it is: its path, or its source for an upload in memory."""
    return str(file.path) if file.path is not None else file.source


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: a stable split by a hash of the source."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``I/N`` (1 <= I <= N).

        Raises:
            InvalidRequest: not of that form.
        """
        try:
            left, right = text.split("/")
            shard = cls(int(left), int(right))
        except ValueError as exc:
            raise InvalidRequest(f"Expected --shard I/N such as 1/4, got {text!r}.") from exc
        if not 1 <= shard.index <= shard.count:
            raise InvalidRequest(f"Expected --shard I/N with 1 <= I <= N, got {text!r}.")
        return shard

    def owns(self, source: str) -> bool:
        digest = hashlib.sha256(source.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


@dataclass
class Discovery:
    """What a run found on disk.

    The files to ingest, the unsupported files met while walking folders (skipped),
    and, per root, every source present on disk (for ``--sync``).
    """

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)
    present: dict[str, set[str]] = field(default_factory=dict)


def _visible_files(root: Path) -> list[tuple[str, Path]]:
    """The files under ``root``, hidden files and folders left out, in path order.

    One ``os.scandir`` per folder (the entries' types come with it), not ``rglob`` plus
    a ``stat`` per file and a sort of ``Path`` objects: that walk was a tenth of an
    unchanged re-ingest of 10,000 files. Like ``rglob``, folders reached through a
    symbolic link are not entered; links to files count as files.
    """
    found: list[tuple[list[str], Path]] = []
    pending = [(root, list[str]())]
    while pending:
        folder, parts = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((Path(entry.path), [*parts, entry.name]))
                    elif entry.is_file():
                        found.append(([*parts, entry.name], Path(entry.path)))
                except OSError:  # vanished meanwhile, or unreadable: not a file to ingest
                    continue
    found.sort(key=lambda item: item[0])
    return [("/".join(parts), path) for parts, path in found]


def _supported(source: str, known: dict[str, bool]) -> bool:
    """:func:`is_supported`, asked once per suffix (``known``: the answers so far).

    The suffix is ``PurePath(source).suffix``, the only part of the name it looks at,
    found without building a path for every file (10,000 paths cost 60 ms).
    """
    name = source.rpartition("/")[2]
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""
    if suffix not in known:
        known[suffix] = is_supported(source)
    return known[suffix]


def discover(paths: list[Path], glob: str | None = None, shard: Shard | None = None) -> Discovery:
    """List the files under ``paths``.

    A folder is walked recursively (hidden files and folders left out) and is the root
    of its files; files of unsupported types met on the way are ``skipped``, unless
    ``glob`` selected them. A file argument is its own document, rooted at its folder.

    Raises:
        InvalidRequest: a path does not exist, or two roots hold a file of the same
            source (they would be one document in the index).
    """
    found = Discovery()
    seen: set[tuple[str, str]] = set()
    roots: dict[str, str] = {}
    supported: dict[str, bool] = {}
    for raw in paths:
        path = raw.expanduser()
        if not path.exists():
            raise InvalidRequest(f"Expected an existing file or folder, got {str(raw)!r}.")
        if path.is_dir():
            root = path.resolve()
            if glob:
                matches = sorted(root.rglob(glob))
                candidates = [(m.relative_to(root).as_posix(), m) for m in matches if m.is_file()]
            else:
                candidates = _visible_files(root)
            explicit = glob is not None
        else:
            root = path.resolve().parent
            resolved = path.resolve()
            candidates = [(resolved.name, resolved)] if resolved.is_file() else []
            explicit = True
        root_name = str(root)
        # only folders define what --sync may remove; a file argument never does
        present = found.present.setdefault(root_name, set()) if path.is_dir() else set()
        for source, candidate in candidates:
            present.add(source)
            if (root_name, source) in seen or (shard and not shard.owns(source)):
                continue
            seen.add((root_name, source))
            if not explicit and not _supported(source, supported):
                found.skipped.append(
                    FileResult(
                        source=source,
                        status="skipped",
                        reason="unsupported_type",
                        message=f"unsupported file type {candidate.suffix or '(none)'!r}",
                        path=str(candidate),
                    )
                )
                continue
            other = roots.setdefault(source, root_name)
            if other != root_name:
                raise InvalidRequest(
                    f"Expected one file per document name, got {source!r} in both {other} "
                    f"and {root}. A document is named by its path relative to the folder "
                    "given: ingest these into separate collections (--collection), or give "
                    "their common parent folder."
                )
            found.files.append(SourceFile(source=source, path=candidate, root=root_name))
    return found
