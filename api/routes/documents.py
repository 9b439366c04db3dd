"""Documents of a collection: upload (multipart), list, delete."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, UploadFile

from api.auth import require_api_key
from api.deps import IngestorDep, MetricsDep, SettingsDep, StoreDep
from api.errors import PayloadTooLarge
from api.schemas import (
    COLLECTION_PATTERN,
    DocumentDeleted,
    DocumentPublic,
    DocumentsPublic,
    FileResultPublic,
    UploadPublic,
    error_responses,
)
from api.uploads import upload_limit_message
from ingest.uploads import Upload
from retrieval.settings import Settings
from retrieval.store import DocumentRecord, doc_id_for

router = APIRouter(tags=["documents"], dependencies=[Depends(require_api_key)])

CollectionPath = Annotated[str, Path(pattern=COLLECTION_PATTERN, description="Collection name.")]
READ_CHUNK = 1024 * 1024


def _too_large(settings: Settings) -> PayloadTooLarge:
    return PayloadTooLarge(upload_limit_message(settings.api.max_upload_mb))


async def read_uploads(files: list[UploadFile], settings: Settings) -> list[Upload]:
    """Read the files' bytes, bounded by the upload limit (naming is ingest.uploads')."""
    budget = int(settings.api.max_upload_mb * 1024 * 1024)
    uploads: list[Upload] = []
    for file in files:
        parts: list[bytes] = []
        while chunk := await file.read(READ_CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise _too_large(settings)
            parts.append(chunk)
        uploads.append(Upload(filename=file.filename, data=b"".join(parts)))
    return uploads


def document_public(record: DocumentRecord) -> DocumentPublic:
    return DocumentPublic(
        doc_id=record.doc_id,
        source=record.source,
        content_hash=record.content_hash,
        chunk_count=record.chunk_count,
        ingested_at=record.ingested_at,
    )


@router.post(
    "/v1/collections/{name}/documents",
    responses=error_responses(400, 401, 409, 413, 422, 502, 503),
)
async def upload_documents(
    name: CollectionPath,
    files: Annotated[list[UploadFile], File(description="One or many files.")],
    settings: SettingsDep,
    ingest: IngestorDep,
    metrics: MetricsDep,
) -> UploadPublic:
    """Ingest uploaded files (same pipeline as `docent ingest`); one result per file."""
    # the body's size is bounded while it arrives: api.edge.EdgeGuard
    uploads = await read_uploads(files, settings)
    results = await ingest(name, uploads)
    data = [
        FileResultPublic(
            filename=result.source,
            status=result.status,
            reason=result.reason,
            message=result.message or None,
            doc_id=doc_id_for(result.source) if result.status != "failed" else None,
            chunks=result.chunks,
        )
        for result in results
    ]
    for item in data:
        metrics.ingested_files.labels(item.status).inc()
        if item.status == "ingested":
            metrics.ingested_chunks.inc(item.chunks)
    ingested = sum(1 for item in data if item.status == "ingested")
    failed = sum(1 for item in data if item.status == "failed")
    return UploadPublic(
        collection=name, data=data, count=len(data), ingested=ingested, failed=failed
    )


@router.get("/v1/collections/{name}/documents", responses=error_responses(400, 401, 404, 503))
async def list_documents(name: CollectionPath, store: StoreDep) -> DocumentsPublic:
    """The documents indexed in a collection."""
    records = await asyncio.to_thread(store.list_documents, name)
    return DocumentsPublic(data=[document_public(r) for r in records], count=len(records))


@router.delete(
    "/v1/collections/{name}/documents/{doc_id}", responses=error_responses(400, 401, 404, 503)
)
async def delete_document(name: CollectionPath, doc_id: str, store: StoreDep) -> DocumentDeleted:
    """Remove one document and its chunks from a collection."""
    removed = await asyncio.to_thread(store.delete_document, name, doc_id)
    return DocumentDeleted(doc_id=doc_id, chunks_removed=removed)
