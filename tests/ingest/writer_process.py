"""A writer process for the concurrency tests: runs a list of puts and deletes of documents.

``python -m tests.ingest.writer_process SPEC.json`` where the spec holds the Chroma
server, the lock folder, the collection, a seed and the operations. Each operation is
printed as one JSON line with its start and end times (wall clock, shared by the
processes of one machine) so the test can tell which orders were possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from pathlib import Path

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.uploads import Upload, ingest_uploads
from retrieval.errors import CollectionNotFound, DocumentNotFound
from retrieval.settings import ChromaSettings, Settings
from retrieval.store import ChunkStore, doc_id_for
from tests.fakes import FakeEmbedder


def writer_settings() -> Settings:
    settings = Settings()
    settings.chunking.size = 40
    settings.chunking.overlap = 8
    settings.ollama.embed_batch_size = 8
    return settings


def writer_embedder() -> FakeEmbedder:
    return FakeEmbedder(model="fake-embed", dimension=32, context_length=256, batch_size=8)


async def run(spec: dict) -> None:
    chroma = ChromaSettings(host=spec["host"], port=spec["port"], lock_path=spec["locks"])
    store = ChunkStore.from_settings(chroma)
    ingestor = Ingestor(store, writer_embedder(), writer_settings(), reader=InProcessReader())
    pause = random.Random(spec["seed"])
    name = spec["collection"]
    for op in spec["ops"]:
        await asyncio.sleep(pause.uniform(0, spec["max_pause"]))
        start = time.time()
        status = "ok"
        if op["op"] == "put":
            upload = Upload(op["name"], op["text"].encode())
            report = await ingest_uploads(ingestor, [upload], collection=name)
            status = report.results[0].status
        else:
            with contextlib.suppress(DocumentNotFound, CollectionNotFound):  # nothing to delete
                await asyncio.to_thread(store.delete_document, name, doc_id_for(op["name"]))
        print(json.dumps({**op, "start": start, "end": time.time(), "status": status}))
        sys.stdout.flush()
    ingestor.close()


if __name__ == "__main__":
    asyncio.run(run(json.loads(Path(sys.argv[1]).read_text())))
