"""Ollama's shapes for model management and the legacy embeddings endpoint.

``/api/pull``, ``/api/delete``, ``/api/ps`` and ``/api/embeddings``, as Ollama 0.12 answers
them. Requests accept Ollama's extra fields and ignore them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.ollama_schemas import OllamaModelDetails


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class OllamaModelRequest(_Lenient):
    """A request naming one model (pull, delete)."""

    model: str = Field(default="", description="docent/<collection>.")
    name: str | None = Field(default=None, description="Deprecated alias of model.")
    stream: bool = True

    def model_or_name(self) -> str:
        """``model``, else the deprecated ``name``."""
        return self.model or self.name or ""


class OllamaStatus(BaseModel):
    """One line of a pull stream, or the whole answer when ``stream`` is false."""

    status: str


class OllamaRunningModel(BaseModel):
    name: str
    model: str
    size: int
    digest: str
    details: OllamaModelDetails
    expires_at: str
    size_vram: int


class OllamaRunning(BaseModel):
    models: list[OllamaRunningModel]


class OllamaLegacyEmbedRequest(_Lenient):
    model: str = Field(min_length=1, description="An embedding model of the upstream Ollama.")
    prompt: str = Field(default="", description="The text to embed.")
    options: dict[str, Any] | None = None
    keep_alive: int | float | str | None = None


class OllamaLegacyEmbedding(BaseModel):
    embedding: list[float]
