"""Consuming an answer stream: the one aggregator and the one event -> exception mapping.

Every door that needs the whole answer (``Answerer.answer``, the API's non-streamed
responses, ``docent ask``, the LangChain adapters) goes through :func:`collect`; every
door that meets an ``error`` event raises :func:`error_for`. Streams are always consumed
inside ``contextlib.aclosing``, so stopping early (an exception, a cancelled task) closes
the model's stream and Ollama stops generating.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import NamedTuple

from retrieval.errors import AnswerFailed
from retrieval.events import AnswerEvent, DeltaEvent, DoneEvent, ErrorEvent, SourceRef, SourcesEvent

ENDED_WITHOUT_RESULT = "The answer stream ended without a result."

EventStream = AsyncGenerator[AnswerEvent, None]
"""An answer's events, closable early (``PreparedAnswer.events`` returns one)."""


class CollectedAnswer(NamedTuple):
    """A whole answer: the sources it was given and its ``done`` event (unpacks as a pair)."""

    sources: list[SourceRef]
    done: DoneEvent


def error_for(event: ErrorEvent) -> AnswerFailed:
    """The exception for an ``error`` event (its code, the registry's status for it)."""
    return AnswerFailed(event.code, event.message)


async def collect(
    events: EventStream,
    *,
    sources: list[SourceRef] | None = None,
    on_delta: Callable[[str], None] | None = None,
) -> CollectedAnswer:
    """Consume ``events`` to the end (closing it in any case) and return the answer.

    Args:
        events: an answer's events (``sources``, ``delta``..., ``done`` or ``error``).
        sources: the sources known before the stream starts (a ``sources`` event wins).
        on_delta: called with each text delta as it arrives (e.g. to print it).

    Raises:
        AnswerFailed: an ``error`` event arrived, or the stream ended without ``done``.
    """
    known = list(sources or [])
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, SourcesEvent):
                known = event.sources
            elif isinstance(event, DeltaEvent):
                if on_delta is not None:
                    on_delta(event.text)
            elif isinstance(event, ErrorEvent):
                raise error_for(event)
            else:
                return CollectedAnswer(sources=known, done=event)
    raise AnswerFailed("internal_error", ENDED_WITHOUT_RESULT)


async def deltas(events: EventStream) -> AsyncGenerator[str, None]:
    """The text deltas of ``events`` (closed when this is); an ``error`` event raises.

    Raises:
        AnswerFailed: an ``error`` event arrived.
    """
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, DeltaEvent):
                yield event.text
            elif isinstance(event, ErrorEvent):
                raise error_for(event)
