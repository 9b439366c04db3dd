"""Request and response models of the native API, in families.

``XCreate`` in, ``XPublic`` out, ``XsPublic`` = list plus count. Storage types never go
on the wire.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.events import Citation, SourceRef, Timings, Usage
from retrieval.settings import RetrievalMode
from retrieval.types import ChatOptions

FilterValue = str | int | float | bool
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,62}[A-Za-z0-9]$"
CollectionName = Field(
    default="default",
    pattern=COLLECTION_PATTERN,
    description="Collection to use: 3-64 characters, letters, digits, '.', '_' or '-'.",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- query -----------------------------------------------------------------------------


class QueryOptions(_Body):
    """Chat model options (unset = Docent's defaults)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    num_predict: int | None = Field(default=None, ge=1, le=32768, description="Answer budget.")
    num_ctx: int | None = Field(default=None, ge=256, le=262144, description="Context window.")

    def to_chat_options(self) -> ChatOptions:
        """The same values as :class:`retrieval.types.ChatOptions`."""
        return ChatOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            num_predict=self.num_predict,
            num_ctx=self.num_ctx,
        )


class QueryCreate(_Body):
    """A question about the documents of one collection."""

    question: str = Field(min_length=1, max_length=20_000)
    collection: str = CollectionName
    k: int | None = Field(default=None, ge=1, le=100, description="Chunks to retrieve.")
    mode: RetrievalMode | None = Field(default=None, description="dense, lexical or hybrid.")
    filters: dict[str, FilterValue] | None = Field(
        default=None,
        description='Metadata filters: {"source": "a.pdf", "page_min": 2, "page_max": 5, '
        "any other stored key: value}.",
    )
    stream: bool = Field(
        default=True,
        description="NDJSON events (SSE with Accept: text/event-stream); false = one object.",
    )
    options: QueryOptions | None = None
    system: str | None = Field(
        default=None, max_length=20_000, description="Replaces the instruction part of the prompt."
    )


class AnswerPublic(BaseModel):
    """A whole answer (``stream: false``): the ``done`` event plus the sources."""

    answer: str
    found: bool
    sources: list[SourceRef]
    citations: list[Citation]
    uncited_sentences: list[str]
    done_reason: str | None
    truncated: bool
    usage: Usage | None
    timings: Timings | None


# --- search ----------------------------------------------------------------------------


class SearchCreate(_Body):
    """A retrieval-only request: no chat model involved."""

    query: str = Field(min_length=1, max_length=20_000)
    collection: str = CollectionName
    k: int | None = Field(default=None, ge=1, le=100)
    mode: RetrievalMode | None = None
    filters: dict[str, FilterValue] | None = None
    mmr: bool = Field(default=False, description="Diversify results (maximal marginal relevance).")


class HitPublic(BaseModel):
    id: str
    score: float
    source: str
    page: int | None
    chunk_index: int | None
    text: str
    ocr: bool = Field(default=False, description="The text was read by OCR from a page image.")


class HitsPublic(BaseModel):
    data: list[HitPublic]
    count: int


# --- collections -----------------------------------------------------------------------


class CollectionCreate(_Body):
    name: str = Field(
        pattern=COLLECTION_PATTERN, description="3-64 characters: letters, digits, '.', '_', '-'."
    )


class CollectionPublic(BaseModel):
    name: str
    embed_model: str
    dimension: int
    chunk_count: int
    document_count: int


class CollectionsPublic(BaseModel):
    data: list[CollectionPublic]
    count: int


class CollectionDeleted(BaseModel):
    name: str
    deleted: Literal[True] = True


# --- documents -------------------------------------------------------------------------


class DocumentPublic(BaseModel):
    doc_id: str
    source: str
    content_hash: str
    chunk_count: int
    ingested_at: str


class DocumentsPublic(BaseModel):
    data: list[DocumentPublic]
    count: int


class DocumentDeleted(BaseModel):
    doc_id: str
    chunks_removed: int


class FileResultPublic(BaseModel):
    """What happened to one uploaded file."""

    filename: str = Field(description="The upload's base name (used as the document source).")
    status: str = Field(description="ingested, unchanged, or failed.")
    reason: str | None = Field(
        description="Why it failed: encrypted, no_text, malformed, too_large, "
        "unsupported_type, timeout or empty."
    )
    message: str | None = None
    doc_id: str | None = None
    chunks: int = 0


class UploadPublic(BaseModel):
    collection: str
    data: list[FileResultPublic]
    count: int
    ingested: int = Field(description="Files whose chunks were written.")
    failed: int


# --- health ----------------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessCheck(BaseModel):
    name: str
    ok: bool
    message: str


class ReadinessPublic(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: list[ReadinessCheck]


# --- errors (documentation of the error bodies) ----------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorPublic(BaseModel):
    error: ErrorDetail


_STATUS_TEXT = {
    400: "Invalid request (e.g. a bad filter).",
    401: "Missing or invalid API key.",
    403: "Refused (a cross-origin write, or an operation Docent does not allow).",
    404: "Unknown collection, document or model.",
    409: "Conflict (exists, or built with another embedding model).",
    413: "Upload too large.",
    422: "Invalid body; `details` lists the field paths.",
    502: "Ollama answered with an error.",
    503: "Ollama or Chroma unavailable, a model missing, or too many answers queued.",
}


def error_responses(
    *statuses: int, body: type[BaseModel] = ErrorPublic
) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for an error body (the native one unless ``body``)."""
    return {
        status: {"model": body, "description": _STATUS_TEXT.get(status, "Error.")}
        for status in statuses
    }
