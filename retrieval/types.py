"""Plain data shared by ingestion, retrieval and the API.

Also the Protocols of the model adapters, so fakes and the Ollama adapters are
interchangeable.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

MetadataValue = str | int | float | bool
Metadata = Mapping[str, MetadataValue]


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, ready to embed.

    ``metadata`` always holds: ``source`` (path relative to the ingest root),
    ``doc_id``, ``page`` (1-based; 0 when the format has no pages), ``chunk_index``,
    ``start``/``end`` (character offsets in the page text), ``doc_hash``, ``embed_model``.
    """

    id: str
    text: str
    metadata: Metadata
    terms: LexicalTerms | None = field(default=None, compare=False, repr=False)
    """Its BM25 terms, when a reader worker analysed the text already (never stored)."""


@dataclass(frozen=True)
class LexicalTerms:
    """A text's BM25 terms as one analyzer made them (:mod:`retrieval.lexical.analyzer`).

    The lexical index uses them instead of analysing the text again when its analyzer
    has this ``analyzer`` signature: the analysis then runs in the reader workers, not in
    the process that writes Chroma.
    """

    analyzer: str
    """The analyzer's signature."""
    body: str
    """The terms, joined by spaces (as the index stores them)."""


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score (higher is better; meaning depends on the mode)."""

    id: str
    text: str
    score: float
    metadata: Metadata = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))

    @property
    def page(self) -> int | None:
        page = self.metadata.get("page")
        return int(page) if isinstance(page, int | float) and page else None


@dataclass(frozen=True)
class ModelInfo:
    """What Ollama says about a model (``/api/show``)."""

    name: str
    context_length: int | None
    embedding_length: int | None
    family: str | None = None


class Embedder(Protocol):
    """Turns texts into vectors. Documents and queries are separate calls."""

    @property
    def model(self) -> str: ...

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...

    async def info(self) -> ModelInfo: ...


ChatRole = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: ChatRole
    content: str


@dataclass(frozen=True)
class ChatOptions:
    """Model options passed through to Ollama's ``options`` (None = model default)."""

    num_ctx: int | None = None
    num_predict: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatDelta:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True)
class ChatDone:
    """The last item of a chat stream, with Ollama's counters (durations in ns)."""

    done_reason: str | None
    prompt_eval_count: int | None
    eval_count: int | None
    total_duration: int | None = None
    prompt_eval_duration: int | None = None
    eval_duration: int | None = None


class ChatModel(Protocol):
    """Streams an answer to a list of messages."""

    @property
    def model(self) -> str: ...

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions
    ) -> AsyncGenerator[ChatDelta | ChatDone, None]: ...

    async def info(self) -> ModelInfo: ...
