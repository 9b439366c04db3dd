"""The store's write path alone: ``ChunkStore.write_documents`` against raw Chroma ``add``.

In one process and one embedded Chroma, wave by wave: a wave of ``--wave`` documents
(SciFact abstracts cut into up to three 600-character chunks, random 384-d vectors) goes
through the whole write protocol (locks, ``pending`` records, chunks, stale lookup,
``done`` records, change log, lexical index), then the same chunks are added to a plain
collection, 128 per call. Alternating wave by wave keeps both under the same load (this
machine is shared); the median of the per-wave ratios is reported.

Usage: ``python -m bench write-path [--docs N] [--rows R]``. To measure an older
checkout's store with this script: ``PYTHONPATH=OLD python bench/write_path.py``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # run as a script, too

from bench import corpus, report
from retrieval.search import follow_writes
from retrieval.settings import ChromaSettings, Settings
from retrieval.store import (
    ChunkStore,
    DocumentRecord,
    DocumentWrite,
    chunk_id,
    chunk_metadata,
    doc_id_for,
)
from retrieval.types import Chunk

RAW_ROWS = 128
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"
"""This checkout's copy of the data (an older checkout's ``bench`` may look elsewhere)."""


def document_writes(count: int, seed: int = 0) -> list[DocumentWrite]:
    """``count`` new documents with their chunks and vectors."""
    rng = np.random.default_rng(seed)
    texts = [a.text for a in corpus.abstracts(SCIFACT)]
    writes = []
    for n in range(count):
        source = f"docs/d{n}.txt"
        doc_id, version = doc_id_for(source), uuid.uuid4().hex[:16]
        text = texts[n % len(texts)]
        pieces = [text[i : i + 600] for i in range(0, min(len(text), 1800), 600)]
        chunks = [
            Chunk(
                chunk_id(doc_id, version, i),
                piece,
                chunk_metadata(
                    source=source,
                    doc_id=doc_id,
                    page=0,
                    chunk_index=i,
                    start=i * 600,
                    end=i * 600 + len(piece),
                    doc_hash=version,
                    embed_model="bench",
                ),
            )
            for i, piece in enumerate(pieces)
        ]
        record = DocumentRecord(
            doc_id, source, version, len(chunks), "2026-01-01T00:00:00+00:00", version, "pending"
        )
        vectors = {c.id: rng.random(384).tolist() for c in chunks}
        writes.append(DocumentWrite(record, chunks, vectors))
    return writes


def measure(folder: Path, docs: int, wave: int, rows: int) -> tuple[float, float, int]:
    """Median per-wave ratio (raw add seconds / write_documents seconds), total, chunks."""
    store = ChunkStore.from_settings(ChromaSettings(path=str(folder)))
    follow_writes(Settings(chroma=ChromaSettings(path=str(folder))), store)
    store.ensure_collection("bench", "bench", 384)
    raw = store._client.create_collection("raw", metadata={"hnsw:space": "cosine"})
    writes = document_writes(docs)
    ratios, docent_seconds, raw_seconds, chunks = [], 0.0, 0.0, 0
    for start in range(0, len(writes), wave):
        part = writes[start : start + wave]
        began = time.perf_counter()
        store.write_documents("bench", part, embed_model="bench", batch_size=rows)
        docent = time.perf_counter() - began
        rows_of_wave = [(c, d.vectors[c.id]) for d in part for c in d.chunks]
        began = time.perf_counter()
        for k in range(0, len(rows_of_wave), RAW_ROWS):
            batch = rows_of_wave[k : k + RAW_ROWS]
            raw.add(
                ids=[c.id for c, _ in batch],
                documents=[c.text for c, _ in batch],
                metadatas=[dict(c.metadata) for c, _ in batch],
                embeddings=[v for _, v in batch],
            )
        plain = time.perf_counter() - began
        ratios.append(plain / docent)
        docent_seconds, raw_seconds = docent_seconds + docent, raw_seconds + plain
        chunks += len(rows_of_wave)
    store.close()
    return statistics.median(ratios), raw_seconds / docent_seconds, chunks


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench write-path", description=__doc__)
    parser.add_argument("--docs", type=int, default=1200, help="documents written")
    parser.add_argument("--wave", type=int, default=170, help="documents per write")
    parser.add_argument("--rows", type=int, default=512, help="rows per Chroma call of Docent")
    parser.add_argument("--label", default="", help="added to the result's name (e.g. before)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-write-path-"))
    try:
        median, total, chunks = measure(folder, args.docs, args.wave, args.rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = [
        (
            f"write_documents / raw add rate, {chunks} chunks, {args.rows} rows a call "
            "(median of waves)",
            f"{median:.2f}",
        ),
        ("the same, all waves together", f"{total:.2f}"),
    ]
    name = "write-path" + (f"-{args.label}" if args.label else "")
    params = {
        "docs": args.docs,
        "wave": args.wave,
        "rows": args.rows,
        "command": "python -m bench write-path " + " ".join(argv),
    }
    _json, md_path = report.write(args.out, name, params, rows)
    print(md_path.read_text(encoding="utf-8"))  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1:])
