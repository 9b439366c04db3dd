"""Ollama-shaped errors: ``{"error": "..."}`` with Ollama's status codes and wording."""

from __future__ import annotations

from starlette.responses import JSONResponse

MAX_QUEUE_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
CONTEXT_LENGTH_MESSAGE = "the input length exceeds the context length"
EMBEDDINGS_UNSUPPORTED_MESSAGE = "this model does not support embeddings"
MISSING_BODY_MESSAGE = "missing request body"
MODEL_REQUIRED_MESSAGE = "model is required"
PULL_MISSING_MESSAGE = "pull model manifest: file does not exist"


class OllamaError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> GoJSONResponse:
        """Render the error the way Ollama does."""
        return error_response(self.status, self.message)


class GoJSONResponse(JSONResponse):
    """JSON with the content type Go's gin sends."""

    media_type = "application/json; charset=utf-8"


def error_response(status: int, message: str) -> GoJSONResponse:
    """Return ``{"error": message}`` with the given status."""
    return GoJSONResponse({"error": message}, status_code=status)


def model_not_found(name: str) -> OllamaError:
    """Ollama's 404 for chat, generate and show: ``model 'x' not found``."""
    return OllamaError(404, f"model '{name}' not found")


def model_not_found_pull_hint(name: str) -> OllamaError:
    """Ollama's scheduler 404 (embed, embeddings): ``model "x" not found, try pulling it first``."""
    return OllamaError(404, f'model "{go_quote(name)}" not found, try pulling it first')


def go_quote(text: str) -> str:
    """Escape text like Go's ``%q`` does between the quotes (enough for model names)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
