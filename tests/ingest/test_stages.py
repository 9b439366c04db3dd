"""The ingest stages: the read-ahead budget (bounded in chunks, never deadlocked), and the
embed stage (the chunker's token counts, the last wave's tail)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from ingest.chunking import TextPiece
from ingest.documents import PreparedDoc, prepare_document
from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader, ReadOutcome
from ingest.service import ingest_paths
from ingest.sources import SourceFile
from ingest.stages import ChunkBudget, Docs, EmbedStage, RunContext, Waves
from retrieval.settings import Settings
from retrieval.store import ChunkStore
from retrieval.tokens import count_tokens_batch
from tests.fakes import FakeEmbedder


async def test_the_budget_holds_back_chunks_over_the_limit_until_released() -> None:
    budget = ChunkBudget(10)
    await budget.acquire(6)
    waiting = asyncio.ensure_future(budget.acquire(6))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # 6 + 6 > 10
    await budget.release(6)
    await asyncio.wait_for(waiting, 1)
    assert budget.held == 6


async def test_a_document_larger_than_the_budget_passes_alone() -> None:
    budget = ChunkBudget(10)
    await asyncio.wait_for(budget.acquire(50), 1)
    assert budget.held == 50
    second = asyncio.ensure_future(budget.acquire(1))
    await asyncio.sleep(0.05)
    assert not second.done()
    await budget.release(50)
    await asyncio.wait_for(second, 1)


# -- the embed stage: the chunker's token counts, the last wave's tail ------------------------


class CountingFake(FakeEmbedder):
    """The hash fake, taking the chunker's counts (as ``OllamaEmbedder`` does); records calls."""

    def __init__(self, on_call: Callable[[list[str]], Awaitable[None]] | None = None) -> None:
        super().__init__(model="fake-embed", dimension=32, context_length=256, batch_size=8)
        self.counted: list[tuple[list[str], list[int]]] = []
        self.on_call = on_call

    async def embed_counted(self, texts: Sequence[str], tokens: Sequence[int]) -> list[list[float]]:
        self.counted.append((list(texts), list(tokens)))
        if self.on_call is not None:
            await self.on_call(list(texts))
        return await self.embed_documents(texts)


def one_chunk_docs(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"short{i:02d}.txt").write_text(f"Short document number {i} about topic {i % 3}.")
    return root


async def test_chunks_are_embedded_with_the_chunkers_token_counts(test_settings, tmp_path):
    embedder = CountingFake()
    ingestor = Ingestor(ChunkStore.ephemeral(), embedder, test_settings, reader=InProcessReader())
    (tmp_path / "long.txt").write_text(
        " ".join(f"Sentence {i} of a longer text." for i in range(80))
    )
    report = await ingest_paths(ingestor, [one_chunk_docs(tmp_path, 5)], collection="col")
    assert report.ok
    texts = [t for batch, _ in embedder.counted for t in batch]
    tokens = [n for _, batch in embedder.counted for n in batch]
    assert len(texts) == report.chunks_added > 6  # every chunk went through embed_counted
    assert tokens == count_tokens_batch(texts)


async def test_the_last_wave_is_written_while_its_tail_is_embedded(test_settings, tmp_path):
    store = ChunkStore.ephemeral()
    first_part: list[int] = []

    async def tail_waits_for_the_first_part(texts: list[str]) -> None:
        if not first_part:
            first_part.append(len(texts))
            return
        for _ in range(400):  # the writer has the first part: it is written meanwhile
            if sum(1 for _ in store.iter_chunks("col")) >= first_part[0]:
                return
            await asyncio.sleep(0.025)
        raise AssertionError("the first part of the last wave was not written meanwhile")

    embedder = CountingFake(tail_waits_for_the_first_part)
    ingestor = Ingestor(store, embedder, test_settings, reader=InProcessReader())
    # 10 one-chunk documents: one wave (16 chunks), which is also the last
    report = await ingest_paths(ingestor, [one_chunk_docs(tmp_path, 10)], collection="col")
    assert report.ok
    assert report.chunks_added == 10
    assert [len(batch) for batch, _ in embedder.counted] == [9, 1]


def prepared(chunks: int, name: str) -> PreparedDoc:
    pieces = [TextPiece(f"{name} {i}", 1, 0, 1, 4) for i in range(chunks)]
    return prepare_document(SourceFile(name, data=b"x"), "hash", "v1", ReadOutcome(pieces), "m")


def embed_stage() -> EmbedStage:
    run = cast(RunContext, SimpleNamespace(settings=Settings()))
    return EmbedStage(run, ChunkBudget(10))


def test_only_the_last_wave_is_split_and_its_tail_is_about_an_eighth():
    wave = [prepared(4, f"d{i}") for i in range(16)]  # 64 chunks
    stage = embed_stage()
    assert stage.parts(wave, last=False) == [wave]
    head, tail = stage.parts(wave, last=True)
    assert head + tail == wave  # every document once, in order
    assert sum(len(d.missing) for d in tail) == 8  # 64 / 8
    big_last = [*wave[:3], prepared(40, "big")]
    assert stage.parts(big_last, last=True) == [big_last[:3], big_last[3:]]  # one doc at least
    assert stage.parts(wave[:1], last=True) == [wave[:1]]
    assert stage.parts([], last=True) == []


def test_no_split_when_the_writer_is_the_slow_stage():
    wave = [prepared(4, f"d{i}") for i in range(16)]
    stage = embed_stage()
    stage.writer_bound = True  # an embedded wave had to wait for the writer: nothing to overlap
    assert stage.parts(wave, last=True) == [wave]


async def test_a_cancel_as_a_document_arrives_stops_the_wave_being_filled():
    # asyncio.wait_for (Python 3.11) returns the document and drops a cancel that lands in
    # the same step: a cancelled job's embed stage then waited for a reader that was gone
    stage = embed_stage()
    inbox: Docs = asyncio.Queue()
    out: Waves = asyncio.Queue(maxsize=1)
    out.put_nowait([])  # the writer is busy: the wave keeps filling
    inbox.put_nowait(prepared(1, "first"))
    filling = asyncio.ensure_future(stage._next_wave(inbox, out))
    await asyncio.sleep(0.05)
    inbox.put_nowait(prepared(1, "second"))
    filling.cancel()
    await asyncio.wait([filling], timeout=2)
    assert filling.cancelled()
