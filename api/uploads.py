"""The HTTP side of uploads: the upload route's path and limit message, and its entry.

The body-size limit itself is enforced while the body arrives by :class:`api.edge.EdgeGuard`.

Uploads themselves (their naming rule, their ingestion) live in :mod:`ingest.uploads`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from ingest.pipeline import Ingestor
from ingest.results import FileResult
from ingest.uploads import Upload, ingest_uploads

UPLOAD_PATH = re.compile(r"/v1/collections/[^/]+/documents/?")
"""The upload route, whose body :class:`api.edge.EdgeGuard` bounds by ``DOCENT_MAX_UPLOAD_MB``."""


def upload_limit_message(max_upload_mb: float) -> str:
    """What a client sending too much is told (the 413's message)."""
    return (
        f"Upload larger than {max_upload_mb:g} MB (DOCENT_MAX_UPLOAD_MB). Send large batches "
        "as a job (POST /v1/collections/NAME/jobs: answers at once, reports progress), "
        "fewer or smaller files per request, or use `docent ingest`."
    )


class UploadIngestor(Protocol):
    """Ingests uploads into a collection through the same pipeline as ``docent ingest``."""

    async def __call__(self, collection: str, uploads: Sequence[Upload]) -> list[FileResult]: ...


class PipelineIngestor:
    """:class:`UploadIngestor` over the ingestion pipeline's :class:`~ingest.pipeline.Ingestor`."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor

    async def __call__(self, collection: str, uploads: Sequence[Upload]) -> list[FileResult]:
        report = await ingest_uploads(self._ingestor, uploads, collection=collection)
        return report.results
