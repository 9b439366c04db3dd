"""Uploaded files into the ingestion pipeline (the same one ``docent ingest`` runs).

An upload's file name is reduced to a safe base name and used only as the document's
``source`` label; it is never used as a filesystem path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ingest.pipeline import Ingestor
from ingest.results import FileResult
from ingest.sources import SourceFile

_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str | None, index: int) -> str:
    """A safe base name for an uploaded file.

    No directories, no control characters, no leading dots; ``upload-<index>`` when
    nothing usable is left.
    """
    raw = unicodedata.normalize("NFC", name or "")
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:200] or f"upload-{index}"


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its safe base name (a label, never a path) and its bytes."""

    filename: str
    data: bytes


class UploadIngestor(Protocol):
    """Ingests uploads into a collection through the same pipeline as ``docent ingest``."""

    async def __call__(self, collection: str, uploads: Sequence[Upload]) -> list[FileResult]: ...


class PipelineIngestor:
    """:class:`UploadIngestor` over the ingestion pipeline's :class:`~ingest.pipeline.Ingestor`.

    Uploads become in-memory :class:`~ingest.sources.SourceFile` s whose ``source`` is the
    safe base name; nothing is written to disk under the client's name.
    """

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor

    async def __call__(self, collection: str, uploads: Sequence[Upload]) -> list[FileResult]:
        files = [SourceFile(source=upload.filename, data=upload.data) for upload in uploads]
        report = await self._ingestor.ingest(files, collection=collection)
        return report.results
