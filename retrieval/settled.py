"""Settled marks: what an unchanged re-ingest needs to know, read without opening Chroma.

Opening embedded Chroma costs about a second of imports: most of an unchanged re-ingest
of 10,000 documents. A settled mark says of one collection what the ingest pipeline would
read from Chroma to find every file unchanged: the revision key its document records are
cached at (:class:`~retrieval.record_cache.RecordCache`), that every ``done`` record's
chunks were stored at that revision, and the model that built it.

A mark is written when a store that holds the writer claim closes, and holds only while
nothing has touched Chroma's database since:

- it carries the database file's size, times and inode, which any write changes (and so
  does merely opening embedded Chroma);
- every writing store deletes all marks before its first write
  (:meth:`ChunkStore._writing <retrieval.store.ChunkStore._writing>`), so a write in the
  same clock tick as the mark cannot hide behind an unchanged time.

A mark that does not hold is simply not used: the run opens Chroma and reads it all.
Embedded Chroma only; a Chroma server has no file to check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from retrieval.files import file_signature, replace_json
from retrieval.record_cache import RECORD_CACHE_DIR

DATABASE_FILE = "chroma.sqlite3"
"""Embedded Chroma's database: every write goes through it."""
MARKS_DIR = "settled"
_FORMAT = 1
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SettledMark:
    """One collection as the last store that wrote it left it."""

    key: str
    """The records' revision key (``<records collection id>:<revision token>``)."""
    embed_model: str
    """The model that built the collection."""
    database: tuple[int, ...]
    """Chroma's database file when the mark was written (see :func:`database_state`)."""


def marks_folder(persist_dir: Path) -> Path:
    return persist_dir / RECORD_CACHE_DIR / MARKS_DIR


def database_state(persist_dir: Path) -> tuple[int, ...] | None:
    """Inode, size and change times of Chroma's database file (None: no such file)."""
    try:
        return file_signature(os.stat(persist_dir / DATABASE_FILE))
    except OSError:
        return None


def write_mark(persist_dir: Path, name: str, key: str, embed_model: str) -> None:
    """Mark ``name`` settled at ``key``: call it after this process's last write."""
    state = database_state(persist_dir)
    if state is None:
        return
    mark = SettledMark(key=key, embed_model=embed_model, database=state)
    replace_json(marks_folder(persist_dir) / f"{name}.json", {"format": _FORMAT, **asdict(mark)})


def read_mark(persist_dir: Path, name: str) -> SettledMark | None:
    """The mark of ``name`` if it still holds; None if absent, unreadable or outdated."""
    if not _FILE_NAME.match(name) or ".." in name:  # not a collection: never marked
        return None
    try:
        data = json.loads((marks_folder(persist_dir) / f"{name}.json").read_bytes())
        if data.get("format") != _FORMAT:
            return None
        mark = SettledMark(
            key=str(data["key"]),
            embed_model=str(data["embed_model"]),
            database=tuple(int(n) for n in data["database"]),
        )
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None
    return mark if mark.database == database_state(persist_dir) else None


def forget_marks(persist_dir: Path) -> None:
    """Delete every mark of the folder: a write is about to change the database."""
    shutil.rmtree(marks_folder(persist_dir), ignore_errors=True)
