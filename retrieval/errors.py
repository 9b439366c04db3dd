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
    ├── EmbeddingModelMismatch   409 embedding_model_mismatch
    ├── InvalidRequest           400 invalid_request
    └── Busy                     503 busy                 a bounded queue is full
"""

from __future__ import annotations


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


class Busy(DocentError):
    code = "busy"
    http_status = 503
