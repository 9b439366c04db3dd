"""Dense search restricted to one source: three ways, on an existing embedded store.

- ``where``: Chroma's metadata filter, ``where={"source": S}``;
- ``ids``: Chroma's query restricted to the document's chunk ids (``ids=[...]``), which
  come from the document record by id lookups (``ChunkStore.source_chunk_ids``);
- ``get``: fetch those chunks' vectors by id and rank them with numpy.

Usage: ``python -m bench dense-filter --store DIR [--collection bench] [--queries 200]``
(e.g. the ``--store`` that ``python -m bench lexical`` kept).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench import report
from retrieval.settings import Settings
from retrieval.store import ChunkStore


def run(store_dir: Path, collection: str, count: int, out: Path) -> Path:
    settings = Settings()
    store = ChunkStore.from_settings(settings.chroma.model_copy(update={"path": store_dir}))
    records = [r for r in store.list_documents(collection) if r.state == "done"]
    rng = np.random.default_rng(7)
    picked = [records[int(i)] for i in rng.integers(0, len(records), count)]
    info = store.get_collection(collection)
    vectors = rng.standard_normal((count, info.dimension)).astype(np.float32)
    chunks = store._chunks(collection)  # the raw Chroma collection, to time its calls alone

    def by_where(vector: list[float], source: str) -> object:
        return chunks.query(query_embeddings=[vector], n_results=5, where={"source": source})

    def by_ids(vector: list[float], source: str) -> object:
        ids = store.source_chunk_ids(collection, source) or []
        return chunks.query(query_embeddings=[vector], n_results=min(5, len(ids)), ids=ids)

    def by_get(vector: list[float], source: str) -> object:
        ids = store.source_chunk_ids(collection, source) or []
        got = chunks.get(ids=ids, include=["embeddings"])
        matrix = np.asarray(got["embeddings"], dtype=np.float32)
        return np.argsort(-(matrix @ np.asarray(vector, dtype=np.float32)))[:5]

    ways: dict[str, Callable[[list[float], str], object]] = {
        "where": by_where,
        "ids": by_ids,
        "get": by_get,
    }
    rows: list[tuple[str, str]] = [("chunks in the collection", str(info.chunk_count))]
    for name, way in ways.items():
        times = []
        for vector, record in zip(vectors.tolist(), picked, strict=True):
            start = time.perf_counter()
            way(vector, record.source)
            times.append(time.perf_counter() - start)
        p = report.percentiles_ms(times)
        rows.append((f"{name}: p50 / p99", f"{p['p50']} / {p['p99']} ms"))
    params = {"store": str(store_dir), "queries": count, "command": "python -m bench dense-filter"}
    json_path, _ = report.write(out, f"dense-filter-{info.chunk_count}", params, rows)
    return json_path


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench dense-filter", description=__doc__)
    parser.add_argument("--store", type=Path, required=True, help="embedded Chroma folder")
    parser.add_argument("--collection", default="bench")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    path = run(args.store, args.collection, args.queries, args.out)
    print(path.with_suffix(".md").read_text(encoding="utf-8"))  # noqa: T201
