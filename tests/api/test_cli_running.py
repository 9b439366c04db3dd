"""The CLI's coroutine runner: the result comes back, and is never formatted at exit."""

from __future__ import annotations

import asyncio

import pytest

from api.cli.running import run


class Watched:
    """Counts how often it is formatted (``reprlib`` swallows errors, so none is raised)."""

    def __init__(self) -> None:
        self.formatted = 0

    def __repr__(self) -> str:
        self.formatted += 1
        return "Watched()"


async def produce(result: Watched) -> Watched:
    return result


def test_asyncio_run_formats_the_result_at_exit() -> None:
    """The cost avoided (if Python stops doing it, ``run`` is no longer needed)."""
    result = Watched()

    assert asyncio.run(produce(result)) is result
    assert result.formatted > 0


def test_the_result_is_returned_without_being_formatted() -> None:
    result = Watched()

    assert run(produce(result)) is result
    assert result.formatted == 0


def test_an_error_of_the_coroutine_is_raised() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run(fail())
