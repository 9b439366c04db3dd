"""Uploaded files into the ingestion pipeline: the one place that names them.

Naming rule: an upload's name is reduced to a safe base name (no folders, no control
characters, no leading dots) that is only a label, the document's ``source``, never a
filesystem path. Two uploads of one request that reduce to the same name are both kept:
the later ones become ``a-2.txt``, ``a-3.txt`` in request order, and each file's result
carries the name it was indexed under. A user who drops files from several folders
expects every file indexed, not the whole request refused for a name clash. Across
requests a name is the document's identity: uploading ``a.txt`` again replaces it (or is
``unchanged``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.pipeline import Ingestor
from ingest.results import IngestReport
from ingest.sources import SourceFile

_UNSAFE = re.compile(r"[^\w.\- ]+")
MAX_NAME = 200


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client sent, and its bytes (or a saved copy)."""

    filename: str | None
    data: bytes | Path


def safe_filename(name: str | None, index: int) -> str:
    """A safe base name for an uploaded file.

    No directories, no control characters, no leading dots; ``upload-<index>`` when
    nothing usable is left.
    """
    raw = unicodedata.normalize("NFC", name or "")
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:MAX_NAME] or f"upload-{index}"


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats renamed ``a-2.txt``, ``a-3.txt`` ... in order."""
    seen: set[str] = set()
    unique: list[str] = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}" if dot and stem else f"{name}-{n}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def upload_sources(uploads: Sequence[Upload]) -> list[SourceFile]:
    """The uploads as in-memory (or saved) sources, named by the rule above."""
    names = unique_names([safe_filename(u.filename, i) for i, u in enumerate(uploads, 1)])
    return [
        SourceFile(source=name, path=u.data)
        if isinstance(u.data, Path)
        else SourceFile(source=name, data=bytes(u.data))
        for name, u in zip(names, uploads, strict=True)
    ]


async def ingest_uploads(
    ingestor: Ingestor, uploads: Sequence[Upload], *, collection: str = "default"
) -> IngestReport:
    """Ingest uploaded files with a long-lived :class:`Ingestor` (the HTTP upload route).

    Re-uploading an unchanged file is ``unchanged`` (no embedding); a changed one
    replaces the document of the same name. Per-file results carry the same reason
    codes as the CLI's, under the names the files were indexed as.
    """
    return await ingestor.ingest(upload_sources(uploads), collection=collection)
