"""Ingestion jobs: start (paths or uploads), list, follow (NDJSON / SSE), cancel.

The runner (:class:`ingest.jobs.JobRunner`) does the work; this module only translates
HTTP: a multipart body is an upload job, a JSON body a job over server-side paths.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import StreamingResponse

from api.auth import require_api_key
from api.deps import JobsDep
from api.jobs_schemas import JobCreate, JobPublic, JobsPublic
from api.schemas import COLLECTION_PATTERN, error_responses
from api.streaming import NDJSON, SSE, STREAM_HEADERS
from ingest.jobs import JobEvent, JobRunner
from ingest.jobs_store import Job

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_api_key)])

CollectionPath = Annotated[str, Path(pattern=COLLECTION_PATTERN, description="Collection name.")]
MAX_FILES = 10_000
"""Files one upload job may carry."""

_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": JobCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
        },
    }
}
_EVENTS_DOC = {
    "description": "NDJSON events (`state` first, then `file`... and `state`, ending with "
    "`end` and the final job), SSE when `Accept: text/event-stream`.",
    "content": {NDJSON: {}, SSE: {}},
}


def job_url(request: Request, job: Job) -> str:
    return str(request.url_for("get_job", job_id=job.id))


def job_public(request: Request, runner: JobRunner, job: Job) -> JobPublic:
    return JobPublic.model_validate({**runner.snapshot(job), "url": job_url(request, job)})


async def _create(name: str, request: Request, runner: JobRunner) -> Job:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=MAX_FILES) as form:
            files = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
            return await runner.submit_uploads(name, [(f.filename, f.file) for f in files])
    try:
        body = JobCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from exc
    return await runner.submit_paths(name, body.paths, glob=body.glob, sync=body.sync)


@router.post(
    "/v1/collections/{name}/jobs",
    status_code=202,
    responses=error_responses(400, 401, 403, 422),
    openapi_extra=_CREATE_BODY,
)
async def create_job(
    name: CollectionPath, request: Request, response: Response, runner: JobsDep
) -> JobPublic:
    """Start an ingestion job: multipart `files`, or JSON `{"paths": [...], "glob", "sync"}`."""
    job = await _create(name, request, runner)
    public = job_public(request, runner, job)
    response.headers["Location"] = public.url
    return public


@router.get("/v1/jobs", responses=error_responses(401))
async def list_jobs(request: Request, runner: JobsDep) -> JobsPublic:
    """Every ingestion job, oldest first."""
    jobs = await runner.list_jobs()
    return JobsPublic(data=[job_public(request, runner, j) for j in jobs], count=len(jobs))


@router.get("/v1/jobs/{job_id}", responses=error_responses(401, 404))
async def get_job(job_id: str, request: Request, runner: JobsDep) -> JobPublic:
    """A job's state, counts, rate, time left and per-file failures."""
    return job_public(request, runner, await runner.get(job_id))


@router.delete("/v1/jobs/{job_id}", responses=error_responses(401, 404))
async def cancel_job(job_id: str, request: Request, runner: JobsDep) -> JobPublic:
    """Cancel a job: files written so far stay, the rest are left untouched."""
    return job_public(request, runner, await runner.cancel(job_id))


def _ndjson(events: AsyncIterator[JobEvent]) -> AsyncIterator[bytes]:
    async def frames() -> AsyncIterator[bytes]:
        async for event in events:
            yield (json.dumps(event) + "\n").encode()

    return frames()


def _sse(events: AsyncIterator[JobEvent]) -> AsyncIterator[bytes]:
    async def frames() -> AsyncIterator[bytes]:
        async for event in events:
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

    return frames()


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: _EVENTS_DOC, **error_responses(401, 404)},
)
async def job_events(job_id: str, request: Request, runner: JobsDep) -> StreamingResponse:
    """Follow a job live: its current state first, then each file, ending with the final state."""
    events = await runner.events(job_id)
    if SSE in request.headers.get("accept", "").lower():
        return StreamingResponse(_sse(events), media_type=SSE, headers=STREAM_HEADERS)
    return StreamingResponse(_ndjson(events), media_type=NDJSON, headers=STREAM_HEADERS)
