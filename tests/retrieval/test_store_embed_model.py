"""``ChunkStore.check_model``: the per-search check, from metadata alone."""

from __future__ import annotations

import pytest

from retrieval.errors import CollectionNotFound, EmbeddingModelMismatch
from retrieval.store import ChunkStore

DIM = 8


def test_the_model_that_built_the_collection_passes_and_another_is_refused(
    store: ChunkStore, collection_name: str
) -> None:
    store.ensure_collection(collection_name, "all-minilm", DIM)
    store.check_model(collection_name, "all-minilm")
    with pytest.raises(EmbeddingModelMismatch) as caught:
        store.check_model(collection_name, "nomic-embed-text")
    assert caught.value.built_with == "all-minilm"
    assert caught.value.requested == "nomic-embed-text"


def test_a_missing_collection_is_not_found(store: ChunkStore) -> None:
    with pytest.raises(CollectionNotFound):
        store.check_model("nowhere", "all-minilm")
