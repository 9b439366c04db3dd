"""Request and response models of ingestion jobs (``/v1/.../jobs``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatePublic = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobCreate(BaseModel):
    """A job over server-side files and folders (under ``DOCENT_INGEST_ROOTS``)."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(
        min_length=1, max_length=1000, description="Files and folders on the server."
    )
    glob: str | None = Field(
        default=None, max_length=200, description="Only files matching this, e.g. '**/*.pdf'."
    )
    sync: bool = Field(
        default=False, description="Also remove documents of these folders whose files are gone."
    )


class JobFilesPublic(BaseModel):
    """Files of a job by verdict (``processed``: finished so far, of ``total``)."""

    total: int
    processed: int
    ingested: int
    unchanged: int
    failed: int
    skipped: int
    removed: int


class JobChunksPublic(BaseModel):
    added: int
    removed: int


class JobFilePublic(BaseModel):
    """One finished file; ``reason`` is one of the codes `docent ingest` reports."""

    source: str
    path: str
    status: str
    chunks: int
    reason: str | None
    message: str | None


class JobErrorPublic(BaseModel):
    """Why a whole job failed (e.g. Ollama unavailable): an error code and message."""

    code: str
    message: str | None


class JobPublic(BaseModel):
    """An ingestion job: state, counts, rate, time left, per-file failures."""

    id: str
    url: str = Field(description="This job's address (GET it, or DELETE it to cancel).")
    collection: str
    kind: Literal["paths", "uploads"]
    state: JobStatePublic
    created_at: float
    started_at: float | None
    finished_at: float | None
    files: JobFilesPublic
    chunks: JobChunksPublic
    files_per_second: float | None = Field(description="While running: files finished per second.")
    eta_seconds: float | None = Field(description="While running: estimated seconds left.")
    failures: list[JobFilePublic]
    error: JobErrorPublic | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int
