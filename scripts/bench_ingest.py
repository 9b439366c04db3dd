"""Benchmark ingestion on SciFact: first run, re-run, chunks/s, raw /api/embed speed.

The raw figure is the same Ollama server embedding the same chunk texts with plain
sequential requests, i.e. the ceiling for the pipeline.

Usage: ``.venv/bin/python scripts/bench_ingest.py [--docs 500] [--batch 32]``. Uses
OLLAMA_HOST when set, otherwise starts the stand-in (``python -m standin``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ingest.results import IngestReport
from ingest.runtime import open_runtime
from ingest.service import ingest_paths
from retrieval.settings import Settings
from retrieval.store import ChunkStore

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"


def start_standin() -> tuple[subprocess.Popen[str] | None, str]:
    if os.environ.get("OLLAMA_HOST"):
        return None, os.environ["OLLAMA_HOST"]
    command = [sys.executable, "-m", "standin", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.rsplit(" ", 1)[-1].strip()


def write_corpus(folder: Path, n: int) -> None:
    with SCIFACT.open(encoding="utf-8") as lines:
        for _, line in zip(range(n), lines, strict=False):
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")


async def raw_embed(host: str, model: str, texts: list[str], batch: int) -> float:
    """Seconds to embed ``texts`` with plain sequential /api/embed calls."""
    async with httpx.AsyncClient(base_url=host, timeout=600) as client:
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            response = await client.post(
                "/api/embed", json={"model": model, "input": texts[i : i + batch]}
            )
            response.raise_for_status()
        return time.perf_counter() - start


async def ingest_with(store: ChunkStore, settings: Settings, corpus: Path) -> IngestReport:
    """One ``docent ingest`` run of ``corpus``, through the composition root."""
    async with open_runtime(settings, store=store) as runtime:
        return await ingest_paths(runtime.ingestor, [corpus])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--model", default="all-minilm")
    args = parser.parse_args()

    process, host = start_standin()
    os.environ.update(
        OLLAMA_HOST=host,
        DOCENT_EMBED_MODEL=args.model,
        DOCENT_EMBED_BATCH_SIZE=str(args.batch),
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            corpus, chroma = Path(tmp) / "corpus", Path(tmp) / "chroma"
            corpus.mkdir()
            write_corpus(corpus, args.docs)
            os.environ["DOCENT_CHROMA_PATH"] = str(chroma)
            settings = Settings()
            store = ChunkStore.from_settings(settings.chroma)
            first = asyncio.run(ingest_with(store, settings, corpus))
            second = asyncio.run(ingest_with(store, settings, corpus))
            texts = [c.text for c in store.iter_chunks("default")]
            raw = asyncio.run(raw_embed(settings.ollama.base_url, args.model, texts, args.batch))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)

    chunks = first.chunks_added
    print(f"documents:             {args.docs} SciFact abstracts ({chunks} chunks)")
    print(
        f"first run:             {first.seconds:.1f} s, {chunks / first.seconds:.1f} chunks/s, "
        f"{first.embedding_calls} /api/embed calls (batch {args.batch})"
    )
    print(
        f"re-run (unchanged):    {second.seconds:.2f} s, {second.embedding_calls} embed calls, "
        f"{second.count('unchanged')} unchanged"
    )
    print(
        f"raw /api/embed:        {raw:.1f} s, {len(texts) / raw:.1f} chunks/s "
        f"(same texts, sequential, batch {args.batch})"
    )
    print(f"pipeline efficiency:   {raw / first.seconds:.0%} of raw embedding throughput")


if __name__ == "__main__":
    main()
