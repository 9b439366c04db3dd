"""A uniform sample of a collection's chunks from the lexical index, not from Chroma's pages.

Chroma pages only by offset, which costs in proportion to the offset (3 s for one page at
1.2M chunks here), so the adaptive fusion's profile draws its sample's ids from the
persisted tantivy index and reads those vectors from Chroma by id.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from retrieval.lexical.analyzer import default_analyzer
from retrieval.lexical.engine import TantivyIndex
from retrieval.search import Searcher, SearchRequest
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.types import Chunk
from tests.fakes import FakeEmbedder, hash_vector
from tests.stores import Doc, fill_store, make_chunks


def _chunks(prefix: str, count: int) -> list[Chunk]:
    return [
        Chunk(id=f"{prefix}-{n}", text=f"report {prefix} number {n}", metadata={"page": 1})
        for n in range(count)
    ]


def test_ids_are_drawn_from_every_segment_in_proportion_to_its_size(tmp_path: Path):
    index = TantivyIndex(tmp_path / "index", default_analyzer())
    batches = {"big": 600, "mid": 200, "small": 50}
    for prefix, count in batches.items():  # one commit each: (at least) three segments
        index.upsert(_chunks(prefix, count))
        index.commit()
    written = {c.id for prefix, count in batches.items() for c in _chunks(prefix, count)}

    sample = index.sample_ids(400, random.Random(7))

    assert set(sample) <= written
    assert len(sample) == len(set(sample)) > 200
    per_batch = {prefix: sum(i.startswith(prefix + "-") for i in sample) for prefix in batches}
    assert all(per_batch.values()), per_batch  # every segment is reached
    assert per_batch["big"] > per_batch["mid"] > per_batch["small"]
    index.close()


def test_an_index_in_memory_gives_no_sample():
    index = TantivyIndex(None, default_analyzer())
    index.upsert(_chunks("a", 20))
    index.commit()
    assert index.sample_ids(10, random.Random(0)) == []


DOCS = [Doc(f"doc{i}.txt", f"pump valve report {i} about part {i % 37}") for i in range(900)]


@pytest.fixture
async def searcher(tmp_path: Path) -> Searcher:
    settings = Settings()
    settings.chroma.path = tmp_path / "chroma"
    store = ChunkStore.from_settings(settings.chroma)  # on disk: so is its lexical index
    await fill_store(store, "docs", DOCS, FakeEmbedder(dimension=64))
    return Searcher(settings, store, FakeEmbedder(dimension=64))


async def test_the_fusion_profile_samples_by_ids_not_by_chroma_offsets(searcher, monkeypatch):
    def offset_pages(*_: object) -> list[list[float]]:
        raise AssertionError("the profile paged through Chroma by offset")

    monkeypatch.setattr(searcher._store, "sample_embeddings", offset_pages)
    hits = await searcher.search(SearchRequest("pump valve", "docs", k=5, mode="hybrid"))
    assert hits

    profile, _ = searcher._profiles["docs"]
    assert profile.count == len(DOCS)  # the lexical index's count: one chunk per document
    assert len(profile.sample) >= 512
    stored = {
        tuple(round(x, 5) for x in hash_vector(chunk.text, 64))
        for chunk in make_chunks(DOCS, "fake-embed")
    }
    # every sampled vector is a stored chunk's (unit) vector
    assert {tuple(round(float(x), 5) for x in row) for row in profile.sample} <= stored
