"""Fixtures of the retrieval tests (Chroma in both modes comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

import retrieval.prompt as prompt


@pytest.fixture
def prompt_encodings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the prompt builder encodes from now on, in order (encoded as before)."""
    encoded: list[str] = []
    real = prompt.count_tokens

    def recording(text: str) -> int:
        encoded.append(text)
        return real(text)

    monkeypatch.setattr(prompt, "count_tokens", recording)
    return encoded
