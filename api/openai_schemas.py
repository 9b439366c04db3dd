"""OpenAI's request and response shapes for ``/v1/models`` and ``/v1/chat/completions``.

Unknown fields are accepted and ignored; Docent-specific: ``docent_sources: false`` (an
``extra_body`` field for the ``openai`` SDK) drops the Sources footer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import error_responses


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class OpenAITextPart(_Lenient):
    type: str = "text"
    text: str = ""


class OpenAIMessage(_Lenient):
    role: str
    content: str | list[OpenAITextPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined; other parts ignored)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if part.type == "text")


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatCompletionCreate(_Lenient):
    model: str = Field(min_length=1, description="docent/<collection>.")
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    stop: str | list[str] | None = None
    docent_sources: bool | None = Field(
        default=None, description="false drops the Sources footer (default: on)."
    )


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "docent"


class OpenAIModels(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class ChatCompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class ChatCompletionChoice(BaseModel):
    index: int = 0
    message: ChatCompletionMessage
    logprobs: None = None
    finish_reason: str


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: None = None
    choices: list[ChatCompletionChoice]
    usage: CompletionUsage


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIErrorPublic(BaseModel):
    """OpenAI's error body (documentation of the OpenAI-compatible errors)."""

    error: OpenAIErrorDetail


OPENAI_ERRORS = error_responses(400, 401, 403, 404, 413, 422, 502, 503, body=OpenAIErrorPublic)
"""The error statuses of the OpenAI-compatible routes, in OpenAI's shape."""
