"""Docent's error tree.

Every error carries a stable machine ``code``, an HTTP status and a
message that is safe to show a user (what went wrong, what to do).

    DocentError
    ├── OllamaUnavailable        503 ollama_unavailable   Ollama does not answer
    ├── OllamaModelMissing       503 model_missing        a configured model is not pulled
    ├── OllamaFailed             502 ollama_error         Ollama answered with an error
    ├── ChromaUnavailable        503 chroma_unavailable   the vector store cannot be used
    ├── CollectionNotFound       404 collection_not_found
    ├── CollectionExists         409 collection_exists
    ├── DocumentNotFound         404 document_not_found
    ├── JobNotFound              404 job_not_found        no ingestion job of that id
    ├── PathNotAllowed           403 path_not_allowed     a job path outside DOCENT_INGEST_ROOTS
    ├── EmbeddingModelMismatch   409 embedding_model_mismatch
    ├── InvalidRequest           400 invalid_request
    ├── StoreLocked              409 store_locked         another process writes embedded Chroma
    ├── Busy                     503 busy                 a bounded queue is full
    ├── Unauthorized             401 unauthorized         (HTTP API) no or a wrong API key
    ├── PayloadTooLarge          413 payload_too_large    (HTTP API) upload over the limit
    ├── CrossOriginRefused       403 cross_origin_refused (HTTP API) a foreign page's write
    ├── HostNotAllowed           403 host_not_allowed     (HTTP API) a Host outside the allowlist
    ├── ToolsUnsupported         400 tools_unsupported    (facades) a request with tools
    ├── ModelNotFound            404 model_not_found      (facades) unknown docent/<collection>
    └── AnswerFailed             (the code it carries)    an ``error`` event raised again

:data:`REGISTRY` is the one explicit table of codes: each code, its HTTP status, its
class. It is written out by hand (not found by walking subclasses), so a code's status
never depends on which modules happen to be imported; a test checks it is complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class DocentError(Exception):
    """Base of all errors Docent raises on purpose."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OllamaUnavailable(DocentError):
    code = "ollama_unavailable"
    http_status = 503

    @classmethod
    def at(cls, url: str) -> OllamaUnavailable:
        """The standard message for a refused or timed-out connection to ``url``."""
        return cls(
            f"Ollama is not answering at {url}. Start it with `ollama serve` "
            "(or set OLLAMA_HOST to where it runs) and try again."
        )


class OllamaModelMissing(DocentError):
    code = "model_missing"
    http_status = 503

    def __init__(self, model: str, url: str) -> None:
        super().__init__(
            f"Model {model!r} is not available in Ollama at {url}. "
            f"Pull it with `ollama pull {model}` (or `docent doctor --pull`)."
        )
        self.model = model


class OllamaFailed(DocentError):
    code = "ollama_error"
    http_status = 502


class ChromaUnavailable(DocentError):
    code = "chroma_unavailable"
    http_status = 503


class CollectionNotFound(DocentError):
    code = "collection_not_found"
    http_status = 404

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Collection {name!r} does not exist. Ingest documents into it first "
            f"(`docent ingest PATH --collection {name}`)."
        )
        self.name = name


class CollectionExists(DocentError):
    code = "collection_exists"
    http_status = 409


class DocumentNotFound(DocentError):
    code = "document_not_found"
    http_status = 404


class JobNotFound(DocentError):
    code = "job_not_found"
    http_status = 404


class PathNotAllowed(DocentError):
    """A server-side path outside the folders the operator allowed."""

    code = "path_not_allowed"
    http_status = 403


class EmbeddingModelMismatch(DocentError):
    code = "embedding_model_mismatch"
    http_status = 409

    def __init__(self, collection: str, built_with: str, requested: str) -> None:
        super().__init__(
            f"Collection {collection!r} was built with embedding model {built_with!r}, "
            f"not {requested!r}. Use DOCENT_EMBED_MODEL={built_with}, ingest into a new "
            "collection (--collection NAME), or rebuild this one with --reindex."
        )
        self.collection = collection
        self.built_with = built_with
        self.requested = requested


class InvalidRequest(DocentError):
    code = "invalid_request"
    http_status = 400


class StoreLocked(DocentError):
    """Another process writes to this embedded Chroma folder."""

    code = "store_locked"
    http_status = 409


class Busy(DocentError):
    code = "busy"
    http_status = 503


class Unauthorized(DocentError):
    code = "unauthorized"
    http_status = 401


class PayloadTooLarge(DocentError):
    code = "payload_too_large"
    http_status = 413


class CrossOriginRefused(DocentError):
    """A browser page of another origin tried a state-changing request."""

    code = "cross_origin_refused"
    http_status = 403

    def __init__(self, origin: str) -> None:
        super().__init__(
            f"Origin {origin[:100]!r} is not allowed to send requests to this server. "
            "Add it to DOCENT_CORS_ORIGINS (like OLLAMA_ORIGINS) if you trust it."
        )


class HostNotAllowed(DocentError):
    """A request whose ``Host`` is neither loopback, an IP address, nor configured."""

    code = "host_not_allowed"
    http_status = 403

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Host {host[:100]!r} is not allowed. Reach Docent by localhost or an IP "
            "address, or add the name to DOCENT_ALLOWED_HOSTS."
        )


class ToolsUnsupported(DocentError):
    """A chat request with ``tools``, in Ollama's wording for a model without tools."""

    code = "tools_unsupported"
    http_status = 400

    def __init__(self, model: str) -> None:
        super().__init__(
            f"{model[:100]} does not support tools (Docent answers from documents; send "
            "the request without tools, e.g. Open WebUI's function calling set to Default)"
        )


class ModelNotFound(DocentError):
    """A facade model name that names no collection (Ollama's wording unless told)."""

    code = "model_not_found"
    http_status = 404

    def __init__(self, model: str, message: str | None = None) -> None:
        escaped = model.replace("\\", "\\\\").replace('"', '\\"')
        super().__init__(message or f'model "{escaped}" not found, try pulling it first')
        self.model = model

    @classmethod
    def openai(cls, model: str) -> ModelNotFound:
        """The same error in the OpenAI endpoints' wording."""
        return cls(
            model,
            f"The model `{model}` does not exist. Models are docent/<collection>; "
            "list them with GET /v1/models.",
        )


@dataclass(frozen=True)
class ErrorCode:
    """One row of the registry: a stable code, its HTTP status, the class raising it."""

    code: str
    http_status: int
    error: type[DocentError]


def _table(*classes: type[DocentError]) -> Mapping[str, ErrorCode]:
    rows = {cls.code: ErrorCode(cls.code, cls.http_status, cls) for cls in classes}
    if len(rows) != len(classes):
        raise RuntimeError("two error classes share a code")  # pragma: no cover
    return rows


REGISTRY: Mapping[str, ErrorCode] = _table(
    DocentError,
    OllamaUnavailable,
    OllamaModelMissing,
    OllamaFailed,
    ChromaUnavailable,
    CollectionNotFound,
    CollectionExists,
    DocumentNotFound,
    JobNotFound,
    PathNotAllowed,
    EmbeddingModelMismatch,
    InvalidRequest,
    StoreLocked,
    Busy,
    Unauthorized,
    PayloadTooLarge,
    CrossOriginRefused,
    HostNotAllowed,
    ToolsUnsupported,
    ModelNotFound,
)
"""Every code Docent raises, by code (``internal_error`` is :class:`DocentError` itself)."""


def status_for_code(code: str) -> int:
    """The HTTP status of ``code`` (500 for a code not in :data:`REGISTRY`)."""
    row = REGISTRY.get(code)
    return row.http_status if row is not None else 500


class AnswerFailed(DocentError):
    """An ``error`` event of an answer stream raised again: its code, that code's status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = status_for_code(code)
