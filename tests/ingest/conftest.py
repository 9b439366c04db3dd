"""Fixtures of the ingest tests (Chroma in both modes comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder(model="fake-embed", dimension=32, context_length=256, batch_size=8)


@pytest.fixture
def test_settings() -> Settings:
    settings = Settings()
    settings.chunking.size = 40
    settings.chunking.overlap = 8
    settings.ollama.embed_batch_size = 8
    return settings


@pytest.fixture
def memory_ingestor(fake_embedder, test_settings) -> Ingestor:
    """Fast: in-memory Chroma, fake embedder, files read in-process."""
    return Ingestor(ChunkStore.ephemeral(), fake_embedder, test_settings, reader=InProcessReader())
