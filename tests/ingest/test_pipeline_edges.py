"""Edge cases of the pipeline: refused embeddings, --sync with --glob, reindex dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.sources import discover
from retrieval.errors import InvalidRequest, OllamaFailed
from retrieval.store import ChunkStore
from tests.fakes import FakeEmbedder


class RefusingEmbedder(FakeEmbedder):
    """Answers like Ollama refusing any batch that holds the word POISON."""

    async def embed_documents(self, texts):
        if any("POISON" in t for t in texts):
            self.calls += 1
            raise OllamaFailed("Ollama at http://x answered 500: llama runner crashed")
        return await super().embed_documents(texts)


@pytest.fixture
def refusing(test_settings) -> Ingestor:
    embedder = RefusingEmbedder(model="fake-embed", dimension=32, batch_size=8)
    return Ingestor(ChunkStore.ephemeral(), embedder, test_settings, reader=InProcessReader())


async def test_a_refused_lone_document_fails_only_that_file(refusing, tmp_path):
    (tmp_path / "bad.txt").write_text("This text is POISON to the model.")
    report = await refusing.ingest(discover([tmp_path]))
    assert [(r.source, r.reason) for r in report.failures] == [("bad.txt", "embedding_failed")]
    assert "llama runner crashed" in report.failures[0].message


async def test_a_refused_document_in_a_wave_fails_alone(refusing, tmp_path):
    for i in range(5):
        (tmp_path / f"ok{i}.txt").write_text(f"Plain document {i}.")
    (tmp_path / "bad.txt").write_text("POISON")
    report = await refusing.ingest(discover([tmp_path]))
    assert [r.source for r in report.failures] == ["bad.txt"]
    assert report.count("ingested") == 5
    assert {d.source for d in refusing.store.list_documents("default")} == {
        f"ok{i}.txt" for i in range(5)
    }


async def test_sync_with_glob_keeps_documents_still_on_disk(memory_ingestor, tmp_path):
    (tmp_path / "a.txt").write_text("A text file.")
    (tmp_path / "b.md").write_text("# B\n\nA markdown file.")
    (tmp_path / "c.md").write_text("# C\n\nGoing away.")
    await memory_ingestor.ingest(discover([tmp_path]))
    (tmp_path / "c.md").unlink()
    report = await memory_ingestor.ingest(discover([tmp_path], glob="*.md"), sync=True)
    assert [r.source for r in report.results if r.status == "removed"] == ["c.md"]
    sources = {d.source for d in memory_ingestor.store.list_documents("default")}
    assert sources == {"a.txt", "b.md"}


async def test_dry_run_reindex_plans_every_file(memory_ingestor, tmp_path):
    (tmp_path / "a.txt").write_text("A text file.")
    (tmp_path / "b.txt").write_text("Another one.")
    await memory_ingestor.ingest(discover([tmp_path]))
    report = await memory_ingestor.ingest(discover([tmp_path]), reindex=True, dry_run=True)
    assert [(r.source, r.status) for r in report.results] == [
        ("a.txt", "planned"),
        ("b.txt", "planned"),
    ]
    assert report.embedding_calls == 0
    assert len(memory_ingestor.store.list_documents("default")) == 2


def test_the_same_source_from_two_roots_is_refused(tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(f"# {folder}")
    with pytest.raises(InvalidRequest, match=r"'README.md' in both .*one and .*two"):
        discover([tmp_path / "one", tmp_path / "two"])
    # the same file named twice is one document, not a clash
    assert len(discover([tmp_path / "one", tmp_path / "one" / "README.md"]).files) == 1


def test_duplicate_files_in_one_run_would_collide(tmp_path: Path):
    # one folder and a file of another folder with the same name
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    (tmp_path / "b" / "x.txt").write_text("2")
    with pytest.raises(InvalidRequest, match="separate collections"):
        discover([tmp_path / "a", tmp_path / "b" / "x.txt"])
