"""The one aggregator of answer streams and the one event -> exception mapping."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import pytest

from retrieval.errors import AnswerFailed
from retrieval.events import AnswerEvent, DeltaEvent, DoneEvent, ErrorEvent, SourceRef, SourcesEvent
from retrieval.stream import collect, deltas, error_for

SOURCE = SourceRef(n=1, id="c1", source="a.md", page=None, score=0.5, excerpt="text")


class Recorded:
    """An event stream that records whether it was closed."""

    def __init__(self, events: Sequence[AnswerEvent]) -> None:
        self.events = list(events)
        self.closed = False

    async def stream(self) -> AsyncGenerator[AnswerEvent, None]:
        try:
            for event in self.events:
                yield event
        finally:
            self.closed = True


async def test_collect_returns_the_sources_and_done_and_passes_deltas_on() -> None:
    done = DoneEvent(answer="Hello there", found=True)
    recorded = Recorded(
        [SourcesEvent(sources=[SOURCE]), DeltaEvent(text="Hello "), DeltaEvent(text="there"), done]
    )
    seen: list[str] = []
    answer = await collect(recorded.stream(), on_delta=seen.append)
    assert answer.sources == [SOURCE]
    assert answer.done == done
    assert seen == ["Hello ", "there"]
    assert recorded.closed


async def test_an_error_event_raises_with_its_code_and_the_registry_status() -> None:
    recorded = Recorded(
        [
            DeltaEvent(text="Part"),
            ErrorEvent(code="ollama_unavailable", message="Ollama is not answering."),
            DoneEvent(answer="never", found=True),
        ]
    )
    with pytest.raises(AnswerFailed) as raised:
        await collect(recorded.stream(), sources=[SOURCE])
    assert (raised.value.code, raised.value.http_status) == ("ollama_unavailable", 503)
    assert raised.value.message == "Ollama is not answering."
    assert recorded.closed


async def test_a_stream_without_done_is_an_internal_error() -> None:
    with pytest.raises(AnswerFailed) as raised:
        await collect(Recorded([DeltaEvent(text="x")]).stream())
    assert (raised.value.code, raised.value.http_status) == ("internal_error", 500)


async def test_deltas_yields_text_and_raises_on_error() -> None:
    recorded = Recorded(
        [DeltaEvent(text="a"), DeltaEvent(text="b"), ErrorEvent(code="busy", message="full")]
    )
    texts: list[str] = []

    async def read_all() -> None:
        async for text in deltas(recorded.stream()):
            texts.append(text)

    with pytest.raises(AnswerFailed) as raised:
        await read_all()
    assert texts == ["a", "b"]
    assert raised.value.http_status == 503
    assert recorded.closed


def test_an_unknown_code_keeps_its_code_with_status_500() -> None:
    error = error_for(ErrorEvent(code="no_such_code", message="m"))
    assert (error.code, error.http_status, error.message) == ("no_such_code", 500, "m")
