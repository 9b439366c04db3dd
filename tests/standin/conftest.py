"""Fixtures of the stand-in's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from tests.conftest import start_standin, stop


@pytest.fixture(scope="module")
def own_standin() -> Iterator[ollama.Client]:
    """A client of a stand-in started for this module, whatever ``OLLAMA_HOST`` says.

    For the synthetic models: a real Ollama has no such model.
    """
    process, host = start_standin()
    try:
        yield ollama.Client(host=host)
    finally:
        stop(process)
