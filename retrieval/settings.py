"""Docent's one settings tree.

Every section reads its own environment variables (prefix ``DOCENT_``) and ``.env``;
nothing is read at import time. Call :func:`get_settings` (cached) at the edges — the
CLI, the API's lifespan, a notebook — and pass the result down.

``OLLAMA_HOST`` is honoured exactly as Ollama's Python client reads it.
"""

from __future__ import annotations

import urllib.parse
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_OLLAMA_PORT = 11434
ADAPTIVE_WAVE_PER_REQUEST = 128
"""Chunks per request assumed when sizing ingestion waves for adaptive embedding."""


def parse_ollama_host(host: str | None) -> str:
    """Normalise an ``OLLAMA_HOST`` value to a base URL, as the ``ollama`` client does.

    Accepts ``host``, ``host:port``, ``scheme://host[:port][/path]``; empty means
    ``http://127.0.0.1:11434``. An explicit ``http://`` / ``https://`` without a port
    means port 80 / 443, as in Ollama's client.

    Args:
        host: the raw value, e.g. ``"0.0.0.0"``, ``"example.com:8080"``.

    Returns:
        A URL such as ``http://127.0.0.1:11434``.
    """
    raw = (host or "").strip()
    port = DEFAULT_OLLAMA_PORT
    scheme, _, hostport = raw.partition("://")
    if not hostport:
        scheme, hostport = "http", raw
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    hostname = split.hostname or "127.0.0.1"
    port = split.port or port
    if hostname in ("0.0.0.0", "::"):  # a bind address; clients connect to loopback
        hostname = "127.0.0.1"
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    path = split.path.rstrip("/")
    return f"{scheme}://{hostname}:{port}{path}"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class _Section(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCENT_", env_file=".env", extra="ignore", populate_by_name=True
    )


class OllamaSettings(_Section):
    """Where Ollama is and which models Docent asks it for."""

    host: str = Field(
        default="127.0.0.1:11434",
        validation_alias=AliasChoices("OLLAMA_HOST", "host"),
        description="Ollama's address, read from OLLAMA_HOST as Ollama's client reads it.",
    )
    hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("DOCENT_OLLAMA_HOSTS", "hosts"),
        description="Ollama servers that embedding requests fan out to (comma-separated; "
        "include OLLAMA_HOST's server if it should take part). Empty means just OLLAMA_HOST.",
    )
    embed_model: str = Field(
        default="nomic-embed-text",
        validation_alias=AliasChoices("DOCENT_EMBED_MODEL", "embed_model"),
        description="Ollama embedding model.",
    )
    chat_model: str = Field(
        default="llama3.2",
        validation_alias=AliasChoices("DOCENT_CHAT_MODEL", "chat_model"),
        description="Ollama chat model that writes the answers.",
    )
    keep_alive: str = Field(
        default="30m",
        validation_alias=AliasChoices("DOCENT_KEEP_ALIVE", "keep_alive"),
        description="keep_alive sent with every request, for both models, so the chat "
        "model is not evicted by the embedding model between questions.",
    )
    timeout_seconds: float = Field(
        default=120.0,
        validation_alias=AliasChoices("DOCENT_OLLAMA_TIMEOUT", "timeout_seconds"),
        description="Timeout of one request to Ollama.",
    )
    embed_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=2048,
        validation_alias=AliasChoices("DOCENT_EMBED_BATCH_SIZE", "embed_batch_size"),
        description="Fixed inputs per /api/embed request (and fixed requests in flight); "
        "unset = adaptive: requests sized in tokens and tuned per host to its best rate.",
    )
    embed_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        validation_alias=AliasChoices("DOCENT_EMBED_CONCURRENCY", "embed_concurrency"),
        description="Embedding requests in flight per Ollama host (where adaptive tuning starts).",
    )
    embed_batch_tokens: int = Field(
        default=4096,
        ge=64,
        validation_alias=AliasChoices("DOCENT_EMBED_BATCH_TOKENS", "embed_batch_tokens"),
        description="Tokens per /api/embed request where adaptive tuning starts.",
    )
    embed_max_batch_tokens: int = Field(
        default=32768,
        ge=64,
        validation_alias=AliasChoices("DOCENT_EMBED_MAX_BATCH_TOKENS", "embed_max_batch_tokens"),
        description="Largest /api/embed request adaptive tuning may send, in tokens.",
    )
    embed_max_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        validation_alias=AliasChoices("DOCENT_EMBED_MAX_CONCURRENCY", "embed_max_concurrency"),
        description="Most embedding requests in flight per host that adaptive tuning may use.",
    )
    embed_tuning_file: Path | None = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("docent")) / "embed-tuning.json",
        validation_alias=AliasChoices("DOCENT_EMBED_TUNING_FILE", "embed_tuning_file"),
        description="Where the best embedding plan found per host and model is remembered "
        "(DOCENT_EMBED_TUNING_FILE; empty = nowhere).",
    )
    max_retries: int = Field(
        default=4,
        ge=0,
        le=20,
        validation_alias=AliasChoices("DOCENT_OLLAMA_RETRIES", "max_retries"),
        description="Retries (with exponential backoff) on connection errors, 5xx and 503.",
    )

    @field_validator("hosts", mode="before")
    @classmethod
    def _csv_hosts(cls, value: object) -> object:
        return _split_csv(value)

    @property
    def base_url(self) -> str:
        """The primary Ollama URL (chat, show, tags)."""
        return parse_ollama_host(self.host)

    @field_validator("embed_batch_size", "embed_tuning_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def embed_wave_size(self) -> int:
        """Chunks to gather before embedding them: enough to keep every host's requests full."""
        if self.embed_batch_size:
            per_host = self.embed_batch_size * self.embed_concurrency
        else:
            per_host = ADAPTIVE_WAVE_PER_REQUEST * self.embed_max_concurrency
        return per_host * len(self.embed_urls)

    @property
    def embed_urls(self) -> list[str]:
        """All Ollama URLs that embedding requests fan out to."""
        if not self.hosts:
            return [self.base_url]
        return list(dict.fromkeys(parse_ollama_host(h) for h in self.hosts))


class ChromaSettings(_Section):
    """Where vectors live: embedded Chroma by default, a Chroma server when host is set."""

    model_config = SettingsConfigDict(
        env_prefix="DOCENT_CHROMA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    path: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("docent")) / "chroma",
        description="Folder of embedded Chroma (DOCENT_CHROMA_PATH).",
    )
    host: str | None = Field(
        default=None, description="Chroma server host (DOCENT_CHROMA_HOST); unset = embedded."
    )
    port: int = Field(default=8000, description="Chroma server port (DOCENT_CHROMA_PORT).")
    ssl: bool = Field(default=False, description="Use HTTPS for the Chroma server.")
    lock_path: Path | None = Field(
        default=None,
        description="Folder of the write locks for a Chroma server (DOCENT_CHROMA_LOCK_PATH); "
        "default: the user data dir. Embedded Chroma keeps them in its own folder.",
    )
    write_batch_size: int = Field(
        default=128, ge=1, le=5000, description="Records per Chroma write (its docs: 50-250)."
    )

    @property
    def is_server(self) -> bool:
        """True when a Chroma server is configured."""
        return bool(self.host)


class ChunkingSettings(_Section):
    """How documents are cut, in tokens of the embedding model."""

    model_config = SettingsConfigDict(
        env_prefix="DOCENT_CHUNK_", env_file=".env", extra="ignore", populate_by_name=True
    )

    size: int = Field(
        default=200,
        ge=16,
        le=8192,
        description="Target chunk size in embedding-model tokens (DOCENT_CHUNK_SIZE); "
        "always capped to the model's context.",
    )
    overlap: int = Field(
        default=32, ge=0, le=4096, description="Overlap in tokens (DOCENT_CHUNK_OVERLAP)."
    )


class IngestSettings(_Section):
    """Limits that keep one bad file from hurting a batch."""

    model_config = SettingsConfigDict(
        env_prefix="DOCENT_INGEST_", env_file=".env", extra="ignore", populate_by_name=True
    )

    file_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Time limit to read one file (PDF parsing)."
    )
    file_memory_mb: int = Field(
        default=2048, ge=64, description="Memory limit of the process that reads one file."
    )
    max_file_mb: float = Field(default=200.0, gt=0, description="Larger files are refused.")
    workers: int = Field(default=2, ge=1, le=64, description="Files read in parallel.")
    ocr: bool = Field(
        default=True,
        validation_alias=AliasChoices("DOCENT_OCR", "ocr"),
        description="OCR scanned PDF pages and images (needs the `ocr` extra installed).",
    )
    ocr_max_pages: int = Field(
        default=30,
        ge=0,
        validation_alias=AliasChoices("DOCENT_OCR_MAX_PAGES", "ocr_max_pages"),
        description="Pages OCR'd per file at most; the pages left out are reported.",
    )
    roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders the API may ingest server-side paths from, in jobs "
        "(DOCENT_INGEST_ROOTS, comma-separated); empty = no server-side paths.",
    )
    max_jobs: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Ingestion jobs run at once by `docent serve` (DOCENT_INGEST_MAX_JOBS); "
        "the others wait in order.",
    )
    jobs_path: Path | None = Field(
        default=None,
        description="Folder of the job table and of uploaded files waiting for their job "
        "(DOCENT_INGEST_JOBS_PATH); default: `jobs` in embedded Chroma's folder, or in the "
        "user data dir for a Chroma server.",
    )

    @field_validator("roots", mode="before")
    @classmethod
    def _csv_roots(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("jobs_path", mode="before")
    @classmethod
    def _empty_jobs_path(cls, value: object) -> object:
        return None if value == "" else value


RetrievalMode = Literal["dense", "lexical", "hybrid"]
FusionMethod = Literal["adaptive", "rrf"]


class RetrievalSettings(_Section):
    """How questions find chunks."""

    model_config = SettingsConfigDict(
        env_prefix="DOCENT_RETRIEVAL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    mode: RetrievalMode = Field(default="hybrid", description="dense, lexical or hybrid (fused).")
    k: int = Field(default=5, ge=1, le=100, description="Chunks handed to the answer.")
    min_score: float = Field(
        default=0.0,
        description="Dense cosine similarity below which a chunk is not relevant; if no "
        "chunk passes, the answer is 'not found' without calling the chat model.",
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant.")
    fusion: FusionMethod = Field(
        default="adaptive",
        description="Hybrid fusion: 'adaptive' weighs the dense ranking by whether its best "
        "match beats chance and whether it agrees with BM25's top hit (see "
        "retrieval/fusion.py); 'rrf' weighs both rankings equally.",
    )


class AnswerSettings(_Section):
    """How answers are written."""

    model_config = SettingsConfigDict(
        env_prefix="DOCENT_ANSWER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    num_ctx: int | None = Field(
        default=None,
        description="Chat context window to request; unset = the model's own (from "
        "/api/show), capped at max_num_ctx.",
    )
    max_num_ctx: int = Field(
        default=8192,
        ge=512,
        description="Upper bound on num_ctx, for the model's own and for what a request asks.",
    )
    num_predict: int = Field(default=512, ge=16, description="Answer budget in tokens.")
    temperature: float = Field(default=0.1, ge=0, le=2)


class ApiSettings(_Section):
    """The HTTP service."""

    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("DOCENT_API_KEYS", "api_keys"),
        description="Accepted Bearer keys (comma-separated); empty = no auth.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("DOCENT_CORS_ORIGINS", "cors_origins"),
        description="Allowed CORS origins (comma-separated), like OLLAMA_ORIGINS.",
    )
    max_upload_mb: float = Field(
        default=50.0,
        gt=0,
        validation_alias=AliasChoices("DOCENT_MAX_UPLOAD_MB", "max_upload_mb"),
        description="Largest accepted upload, per request, of the synchronous upload route "
        "(POST /v1/collections/NAME/documents); larger batches go through jobs.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("DOCENT_ALLOWED_HOSTS", "allowed_hosts"),
        description="Host names accepted besides loopback names and IP addresses "
        "(comma-separated, * wildcards; * accepts any): guards against DNS rebinding.",
    )
    max_body_kb: int = Field(
        default=1024,
        gt=0,
        validation_alias=AliasChoices("DOCENT_MAX_BODY_KB", "max_body_kb"),
        description="Largest accepted JSON request body (every route but uploads).",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("DOCENT_BODY_TIMEOUT_S", "body_timeout_s"),
        description="Time a client has to send a whole request body (slow bodies get 408).",
    )
    max_concurrent_uploads: int = Field(
        default=4,
        ge=1,
        validation_alias=AliasChoices("DOCENT_MAX_UPLOADS", "max_concurrent_uploads"),
        description="Upload requests handled at once; more wait (see max_queued_uploads).",
    )
    max_queued_uploads: int = Field(
        default=64,
        ge=0,
        validation_alias=AliasChoices("DOCENT_MAX_QUEUED_UPLOADS", "max_queued_uploads"),
        description="Uploads waiting for their turn (bodies unread); beyond this, 503 busy.",
    )
    max_concurrent_searches: int = Field(
        default=4,
        ge=1,
        validation_alias=AliasChoices("DOCENT_MAX_SEARCHES", "max_concurrent_searches"),
        description="/v1/search requests run at once; more wait (max_queued_searches).",
    )
    max_queued_searches: int = Field(
        default=64,
        ge=0,
        validation_alias=AliasChoices("DOCENT_MAX_QUEUED_SEARCHES", "max_queued_searches"),
        description="Searches waiting for their turn; beyond this the API answers 503.",
    )
    max_concurrent_generations: int = Field(
        default=2,
        ge=1,
        validation_alias=AliasChoices("DOCENT_MAX_GENERATIONS", "max_concurrent_generations"),
        description="Answers generated at once.",
    )
    max_queued_generations: int = Field(
        default=16,
        ge=0,
        validation_alias=AliasChoices("DOCENT_MAX_QUEUED", "max_queued_generations"),
        description="Answers waiting for a slot; beyond this the API answers 503.",
    )

    sources_footer: bool = Field(
        default=True,
        validation_alias=AliasChoices("DOCENT_SOURCES_FOOTER", "sources_footer"),
        description="Append a short 'Sources:' footer to answers of the Ollama- and "
        "OpenAI-compatible endpoints.",
    )

    @field_validator("api_keys", "cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)


class Settings(BaseModel):
    """The whole tree; each section reads its own environment variables."""

    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment and ``.env`` once; later calls return the same object."""
    return Settings()
