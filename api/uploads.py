"""The HTTP side of uploads: the body-size limit, and the upload entry the routes call.

Uploads themselves (their naming rule, their ingestion) live in :mod:`ingest.uploads`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.pipeline import Ingestor
from ingest.results import FileResult
from ingest.uploads import Upload, ingest_uploads

UPLOAD_PATH = re.compile(r"/v1/collections/[^/]+/documents/?")
"""The upload route, whose body :class:`UploadLimitMiddleware` bounds."""


def upload_limit_message(max_upload_mb: float) -> str:
    """What a client sending too much is told (the 413's message)."""
    return (
        f"Upload larger than {max_upload_mb:g} MB (DOCENT_MAX_UPLOAD_MB). Send large batches "
        "as a job (POST /v1/collections/NAME/jobs: answers at once, reports progress), "
        "fewer or smaller files per request, or use `docent ingest`."
    )


class UploadLimitMiddleware:
    """Stops an upload over ``DOCENT_MAX_UPLOAD_MB`` while it is still arriving.

    FastAPI parses a multipart body (spooling the files to disk) before any dependency of
    the route runs, so a check in the route comes after the whole upload has landed. This
    refuses a Content-Length over the limit before reading anything, and counts a chunked
    body as it is received. The 413 goes through the app's error handlers (code
    ``payload_too_large``).

    Args:
        app: the ASGI app.
        max_upload_mb: the limit, in MB of request body.
    """

    def __init__(self, app: ASGIApp, max_upload_mb: float) -> None:
        self.app = app
        self.max_bytes = int(max_upload_mb * 1024 * 1024)
        self.message = upload_limit_message(max_upload_mb)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not UPLOAD_PATH.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        declared = int(length) if length.isdigit() else None
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise HTTPException(413, detail=self.message)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, detail=self.message)
            return message

        await self.app(scope, limited, send)


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
