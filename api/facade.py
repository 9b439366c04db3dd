"""What the Ollama- and OpenAI-compatible doors share: model names and chat translation.

Naming scheme (stable, documented): the collection ``<c>`` is the model ``docent/<c>``;
``/api/tags`` lists it as ``docent/<c>:latest`` and both forms are accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.errors import InvalidRequest
from retrieval.types import ChatMessage, ChatOptions, ChatRole

MODEL_PREFIX = "docent/"
TAG = ":latest"
MAX_CHAT_MESSAGES = 500
"""Most messages one chat request may carry (history bounded before any work is done)."""


def model_name(collection: str) -> str:
    """The facade model of ``collection``: ``docent/<collection>``."""
    return f"{MODEL_PREFIX}{collection}"


def collection_of(model: str) -> str | None:
    """The collection a facade model names (``docent/<c>`` or ``docent/<c>:latest``), else None."""
    name = model.strip()
    if name.endswith(TAG):
        name = name[: -len(TAG)]
    if not name.startswith(MODEL_PREFIX):
        return None
    collection = name[len(MODEL_PREFIX) :]
    return collection or None


@dataclass(frozen=True)
class Conversation:
    """A chat request's messages, split the way :class:`retrieval.answer.AskRequest` wants."""

    question: str
    history: tuple[ChatMessage, ...]
    system: str | None


_ROLES: dict[str, ChatRole] = {
    "system": "system",
    "developer": "system",  # what OpenAI's newer models and SDKs send instead of system
    "user": "user",
    "assistant": "assistant",
}


def split_conversation(messages: Sequence[tuple[str, str]]) -> Conversation:
    """Split chat messages into question, history and system instructions.

    The last user message is the question; earlier user/assistant turns are history; the
    last ``system`` (or OpenAI ``developer``) message overrides the answer's instructions.
    Other roles are dropped.

    Args:
        messages: ``(role, content)`` pairs, oldest first.

    Raises:
        InvalidRequest: more than :data:`MAX_CHAT_MESSAGES` messages.
    """
    if len(messages) > MAX_CHAT_MESSAGES:
        raise InvalidRequest(
            f"Expected at most {MAX_CHAT_MESSAGES} messages in one chat request, got "
            f"{len(messages)}. Send only the recent turns of the conversation."
        )
    system: str | None = None
    turns: list[ChatMessage] = []
    for role, content in messages:
        mapped = _ROLES.get(role)
        if mapped == "system":
            system = content
        elif mapped is not None:
            turns.append(ChatMessage(role=mapped, content=content))
    last_user = max((i for i, m in enumerate(turns) if m.role == "user"), default=None)
    if last_user is None:
        return Conversation(question="", history=tuple(turns), system=system)
    return Conversation(
        question=turns[last_user].content, history=tuple(turns[:last_user]), system=system
    )


def _number(options: Mapping[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"Expected a number for options.{key}, got {value!r:.40}.")
    if not math.isfinite(value):
        raise InvalidRequest(f"Expected a finite number for options.{key}, got {value!r}.")
    if kind is int:
        if value != int(value):
            raise InvalidRequest(f"Expected an integer for options.{key}, got {value!r}.")
        return int(value)
    return float(value)


def _stop(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidRequest(f"Expected a string or a list of strings for {where}, got {value!r:.40}.")


def ollama_options(options: Mapping[str, Any] | None) -> tuple[ChatOptions, bool | None]:
    """Ollama ``options`` as :class:`ChatOptions`, plus ``docent_sources`` (None = unset).

    Raises:
        InvalidRequest: a known option has the wrong type.
    """
    options = options or {}
    sources = options.get("docent_sources")
    if sources is not None and not isinstance(sources, bool):
        raise InvalidRequest(
            f"Expected true or false for options.docent_sources, got {sources!r:.40}."
        )
    chat = ChatOptions(
        num_ctx=_number(options, "num_ctx", int),
        num_predict=_number(options, "num_predict", int),
        temperature=_number(options, "temperature", float),
        top_p=_number(options, "top_p", float),
        seed=_number(options, "seed", int),
        stop=_stop(options.get("stop"), "options.stop"),
    )
    return chat, sources


def openai_options(
    *,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    max_tokens: int | None,
    stop: str | list[str] | None,
) -> ChatOptions:
    """OpenAI sampling fields as :class:`ChatOptions` (``max_tokens`` -> ``num_predict``)."""
    return ChatOptions(
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        num_predict=max_tokens,
        stop=_stop(stop, "stop"),
    )


def footer_enabled(setting: bool, requested: bool | None) -> bool:
    """The request's ``docent_sources`` wins over ``settings.api.sources_footer``."""
    return setting if requested is None else requested
