"""A state machine adds, changes and deletes files and re-ingests, checking the index
against a plain model: {source: text} -> exactly the expected chunks, no duplicates."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ingest.chunking import chunk_version, plan_chunking, split_text
from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.sources import content_hash, discover
from retrieval.settings import Settings
from retrieval.store import ChunkStore, chunk_ids, doc_id_for
from tests.fakes import FakeEmbedder

NAMES = [f"f{i}.txt" for i in range(5)]
WORDS = st.sampled_from(["red", "green", "blue", "alpha", "omega", "the", "quick", "fox"])
TEXTS = st.lists(WORDS, min_size=1, max_size=60).map(" ".join)


class IndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="docent-sm-"))
        self.settings = Settings()
        self.settings.chunking.size = 12
        self.settings.chunking.overlap = 3
        self.embedder = FakeEmbedder(dimension=8, batch_size=4)
        self.ingestor = Ingestor(
            ChunkStore.ephemeral(), self.embedder, self.settings, reader=InProcessReader()
        )
        self.on_disk: dict[str, str] = {}
        self.indexed: dict[str, str] = {}
        self.plan = plan_chunking(self.settings.chunking, asyncio.run(self.embedder.info()))

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _ingest(self, sync: bool):
        return asyncio.run(self.ingestor.ingest(discover([self.root]), sync=sync))

    @rule(name=st.sampled_from(NAMES), text=TEXTS)
    def write_file(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)
        self.on_disk[name] = text

    @rule(name=st.sampled_from(NAMES))
    def delete_file(self, name: str) -> None:
        if name in self.on_disk:
            (self.root / name).unlink()
            del self.on_disk[name]

    @rule(sync=st.booleans())
    def ingest(self, sync: bool) -> None:
        changed = {n for n, t in self.on_disk.items() if self.indexed.get(n) != t}
        report = self._ingest(sync)
        assert {r.source for r in report.results if r.status == "ingested"} == changed
        self.indexed.update(self.on_disk)
        if sync:
            self.indexed = dict(self.on_disk)

    @rule()
    def reingest_unchanged_makes_no_calls(self) -> None:
        self._ingest(sync=True)
        self.indexed = dict(self.on_disk)
        before = self.embedder.calls
        report = self._ingest(sync=True)
        assert self.embedder.calls == before
        assert report.count("unchanged") == len(self.on_disk)

    @invariant()
    def index_matches_the_model(self) -> None:
        store = self.ingestor.store
        if not store.list_collections():
            assert not self.indexed
            return
        chunks = list(store.iter_chunks("default"))
        ids = [c.id for c in chunks]
        assert len(ids) == len(set(ids)), "duplicate chunks"
        expected: dict[str, str] = {}
        for name, text in self.indexed.items():
            version = chunk_version(content_hash(text.encode()), self.plan)
            pieces = split_text(text, 0, self.plan, markdown=False)
            for cid, piece in zip(
                chunk_ids(doc_id_for(name), version, len(pieces)), pieces, strict=True
            ):
                expected[cid] = piece.text
        assert {c.id: c.text for c in chunks} == expected
        records = store.list_documents("default")
        assert {r.source for r in records} == set(self.indexed)
        assert all(r.state == "done" for r in records)


IndexMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("DOCENT_HYPOTHESIS_EXAMPLES", "25")),
    stateful_step_count=12,
    deadline=None,
)
test_index_state_machine = IndexMachine.TestCase
