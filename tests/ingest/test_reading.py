"""Reading a file in a worker: its pieces come with their BM25 terms, analysed there."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ingest.chunking import ChunkingPlan
from ingest.pipeline import Ingestor
from ingest.reading import read_and_split
from ingest.service import ingest_paths
from retrieval.lexical import default_analyzer
from retrieval.types import Chunk


def test_each_piece_comes_with_the_terms_the_lexical_index_would_make() -> None:
    text = " ".join(f"Sentence {i} about running cats and the 北京 office." for i in range(40))
    outcome = read_and_split("a.txt", text.encode(), ChunkingPlan(size=48, overlap=8, limit=128))

    analyzer = default_analyzer()
    assert len(outcome.pieces) > 1
    assert outcome.terms == [analyzer.analyse(piece.text) for piece in outcome.pieces]
    assert all(t.analyzer == analyzer.signature and t.body for t in outcome.terms)


class Recorder:
    """A store subscriber keeping the chunks it is told were written."""

    def __init__(self) -> None:
        self.written: list[Chunk] = []

    def changing(self, collection: str) -> None:
        return None

    def chunks_written(self, collection: str, chunks: Sequence[Chunk]) -> None:
        self.written.extend(chunks)

    def chunks_deleted(self, collection: str, ids: Sequence[str]) -> None:
        return None

    def collection_dropped(self, collection: str) -> None:
        return None


async def test_the_terms_reach_the_stores_subscribers_with_the_chunks(
    memory_ingestor: Ingestor, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("Cats were running. " * 30, encoding="utf-8")
    recorder = Recorder()
    memory_ingestor.store.subscribe(recorder)

    report = await ingest_paths(memory_ingestor, [tmp_path])

    analyzer = default_analyzer()
    assert report.chunks_added == len(recorder.written) > 0
    expected = [analyzer.analyse(c.text) for c in recorder.written]
    assert [c.terms for c in recorder.written] == expected
