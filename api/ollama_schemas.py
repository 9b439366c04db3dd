"""Ollama's request and response shapes, for the Ollama-compatible facade (``/api/*``).

Requests accept Ollama's extra fields (``format``, ``think``…) and ignore them; ``tools``
is refused (Docent models call no tools: ``/api/show`` lists no ``tools`` capability).
Docent-specific: ``options.docent_sources: false`` drops the footer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import error_responses


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class OllamaMessage(_Lenient):
    role: str = Field(description="system, user, assistant (tool messages are ignored).")
    content: str = ""


class OllamaChatRequest(_Lenient):
    model: str = Field(min_length=1, description="docent/<collection>, optionally :latest.")
    messages: list[OllamaMessage] = Field(default_factory=list)
    stream: bool = True
    keep_alive: int | float | str | None = Field(
        default=None, description="0 with no messages: Ollama's unload request."
    )
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="Refused (400): Docent models do not call tools."
    )
    options: dict[str, Any] | None = Field(
        default=None,
        description="temperature, top_p, seed, num_predict, num_ctx, stop; "
        "docent_sources: false drops the Sources footer.",
    )


class OllamaGenerateRequest(_Lenient):
    model: str = Field(min_length=1, description="docent/<collection>, optionally :latest.")
    prompt: str = ""
    system: str | None = None
    stream: bool = True
    options: dict[str, Any] | None = None
    keep_alive: int | float | str | None = Field(
        default=None, description="0 with an empty prompt: Ollama's unload request."
    )


class OllamaShowRequest(_Lenient):
    model: str = Field(default="", description="docent/<collection>.")
    name: str | None = Field(default=None, description="Deprecated alias of model.")


class OllamaModelDetails(BaseModel):
    parent_model: str = ""
    format: str = "docent"
    family: str = "docent"
    families: list[str] = Field(default_factory=lambda: ["docent"])
    parameter_size: str = ""
    quantization_level: str = ""


class OllamaTag(BaseModel):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: OllamaModelDetails


class OllamaTags(BaseModel):
    models: list[OllamaTag]


class OllamaVersion(BaseModel):
    version: str


class OllamaShow(BaseModel):
    license: str = ""
    modelfile: str = ""
    parameters: str = ""
    template: str = ""
    details: OllamaModelDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str


class OllamaChatMessageOut(BaseModel):
    role: str = "assistant"
    content: str


class _OllamaAnswerObject(BaseModel):
    """What chat and generate objects share; the counters come with ``done: true``."""

    model: str
    created_at: str
    done: bool
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class OllamaChatResponse(_OllamaAnswerObject):
    """One object of the stream, or the whole answer when ``stream`` is false."""

    message: OllamaChatMessageOut


class OllamaGenerateResponse(_OllamaAnswerObject):
    """One object of the stream, or the whole answer when ``stream`` is false."""

    response: str


class OllamaErrorPublic(BaseModel):
    """Ollama's error body (documentation of the facade's errors)."""

    error: str


OLLAMA_ERRORS = error_responses(400, 401, 403, 404, 413, 502, 503, body=OllamaErrorPublic)
"""The error statuses of the facade's authenticated routes, in Ollama's shape."""
