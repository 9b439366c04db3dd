"""The typed events of one answer stream.

``sources`` first, then text ``delta``s, then ``done`` (or ``error`` if something failed
after streaming began). Every door (CLI, native API, Ollama and OpenAI facades,
notebooks) translates these into its own wire format.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class SourceRef(BaseModel):
    """A numbered context block handed to the model, as ``[n]``."""

    n: int = Field(description="The number the model cites as [n].")
    id: str = Field(description="Chunk id.")
    source: str = Field(description="Document path relative to its ingest root.")
    page: int | None = Field(description="1-based page, when the format has pages.")
    score: float = Field(description="Retrieval score (higher is better).")
    excerpt: str = Field(description="The start of the chunk text.")
    ocr: bool = Field(default=False, description="The text was read by OCR from a page image.")


class Citation(BaseModel):
    """A ``[n]`` the answer actually used, mapped to its source."""

    n: int
    id: str
    source: str
    page: int | None
    ocr: bool = False


class Timings(BaseModel):
    retrieval_ms: float
    first_token_ms: float | None
    total_ms: float
    prompt_eval_ns: int | None = Field(
        default=None, description="Ollama's prompt_eval_duration (None when not reported)."
    )
    eval_ns: int | None = Field(
        default=None, description="Ollama's eval_duration (None when not reported)."
    )


class Usage(BaseModel):
    prompt_tokens: int | None = Field(description="Tokens Ollama evaluated (prompt_eval_count).")
    completion_tokens: int | None = Field(description="Tokens generated (eval_count).")
    prompt_tokens_sent: int = Field(description="Docent's own estimate of the prompt size.")
    num_ctx: int = Field(description="Context window requested from Ollama.")


class SourcesEvent(BaseModel):
    type: Literal["sources"] = "sources"
    sources: list[SourceRef]


class DeltaEvent(BaseModel):
    type: Literal["delta"] = "delta"
    text: str


class DoneEvent(BaseModel):
    type: Literal["done"] = "done"
    answer: str = Field(description="The whole answer text.")
    found: bool = Field(description="False when nothing relevant was retrieved.")
    citations: list[Citation] = Field(default_factory=list)
    uncited_sentences: list[str] = Field(
        default_factory=list, description="Answer sentences that cite nothing."
    )
    done_reason: str | None = None
    truncated: bool = Field(
        default=False,
        description="True when Ollama's prompt_eval_count reached num_ctx: the prompt was "
        "probably cut (Docent's own estimate of the prompt size errs on the high side).",
    )
    usage: Usage | None = None
    timings: Timings | None = None


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str


AnswerEvent = Annotated[
    SourcesEvent | DeltaEvent | DoneEvent | ErrorEvent, Field(discriminator="type")
]
