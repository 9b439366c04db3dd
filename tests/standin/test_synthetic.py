"""synthetic-hash-embed: listed and shown like any model, deterministic, at memory speed."""

from __future__ import annotations

import numpy as np
import ollama
import pytest

from standin.models.synthetic import HashEmbedder

MODEL = "synthetic-hash-embed"


def test_listed_and_shown_as_a_synthetic_embedding_model(own_standin: ollama.Client) -> None:
    names = [m.model for m in own_standin.list().models]
    assert f"{MODEL}:latest" in names
    shown = own_standin.show(MODEL)
    assert shown.capabilities == ["embedding"]
    assert shown.modelinfo is not None
    assert shown.modelinfo["bert.embedding_length"] == 384
    assert "SYNTHETIC" in shown.modelinfo["general.description"]


def test_vectors_are_deterministic_unit_vectors_of_shared_words(own_standin: ollama.Client) -> None:
    texts = ["red apples and pears", "pears and red apples", "the warranty of the motor"]
    first = np.asarray(own_standin.embed(MODEL, input=texts).embeddings)
    again = np.asarray(own_standin.embed(MODEL, input=texts).embeddings)
    assert first.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, again)
    assert first[0] @ first[1] == pytest.approx(1.0)  # same words, any order
    assert first[0] @ first[2] < 0.5


def test_empty_text_still_gets_a_unit_vector() -> None:
    vectors, tokens = HashEmbedder(8, 512).embed(["", "!!"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert tokens == 4  # two special tokens per text, as a BERT model counts
