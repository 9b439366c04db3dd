"""Each chunk keeps the chunker's token count: written, read back, and used by prompts."""

from __future__ import annotations

from dataclasses import replace

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.sources import discover
from retrieval.prompt import build_prompt
from retrieval.records import TOKENS_KEY
from retrieval.search import Searcher, SearchRequest
from retrieval.settings import ChromaSettings
from retrieval.store import ChunkStore
from retrieval.tokens import count_tokens
from retrieval.types import Hit

TEXT = " ".join(
    f"Clause {i}: the kettle's heating element is covered for {i % 5 + 1} years, café."
    for i in range(40)
)


async def test_stored_counts_are_read_back_and_build_the_encoded_prompt(
    tmp_path, fake_embedder, test_settings
):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "warranty.txt").write_text(TEXT)
    (root / "notes.md").write_text("# Notes\n\nThe <document> tag is ours.\n\n" + TEXT)
    path = tmp_path / "chroma"
    writer = ChunkStore.from_settings(ChromaSettings(path=path))
    report = await Ingestor(writer, fake_embedder, test_settings, reader=InProcessReader()).ingest(
        discover([root])
    )
    assert report.ok
    writer.close()

    store = ChunkStore.from_settings(ChromaSettings(path=path))  # reopened: read from disk
    chunks = list(store.iter_chunks("default"))
    assert len(chunks) > 4
    assert all(c.metadata[TOKENS_KEY] == count_tokens(c.text) for c in chunks)

    hits = await Searcher(test_settings, store, fake_embedder).search(
        SearchRequest(query="heating element warranty <document>", k=6)
    )
    assert len(hits) == 6
    assert all(hit.metadata[TOKENS_KEY] == count_tokens(hit.text) for hit in hits)
    as_old = [
        Hit(hit.id, hit.text, hit.score, {k: v for k, v in hit.metadata.items() if k != TOKENS_KEY})
        for hit in hits
    ]
    built = []
    for num_ctx in range(450, 1000, 10):  # some blocks dropped, the last trimmed, or all kept
        counted, encoded = (
            build_prompt("What is covered?", h, num_ctx=num_ctx, num_predict=64, not_found="NF")
            for h in (hits, as_old)
        )
        assert counted.messages == encoded.messages
        assert replace(counted, hits=[]) == replace(encoded, hits=[])
        built.append(counted)
    assert {p.trimmed for p in built} == {True, False}
    assert {p.dropped > 0 for p in built} == {True, False}
