"""Dump what offline fusion experiments need from an ingested BEIR collection.

Usage (after ``docent eval retrieval`` filled the collection, same environment):

    python scripts/eval_dump.py --queries queries.jsonl --qrels qrels.tsv \
        --collection scifact --out dump.npz

Writes every chunk's vector, id, document id and text, every query's vector (one call
to the embedding model per query, as a search makes) and the lexical top 300 chunks
(tantivy, BM25), so fusion, chunk-to-document aggregation and feedback can be explored
in numpy without embedding anything again (``scripts/eval_levers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np

from ingest.runtime import open_runtime
from retrieval.evaluation import doc_id_of, load_qrels
from retrieval.filters import MetadataFilter

LEXICAL_DEPTH = 300


async def dump(queries: Path, qrels: Path, collection: str, out: Path) -> None:
    judged = load_qrels(qrels)
    lines = await asyncio.to_thread(queries.read_text, encoding="utf-8")
    texts = {
        str(row["_id"]): str(row["text"])
        for row in map(json.loads, lines.splitlines())
        if str(row["_id"]) in judged
    }
    async with open_runtime() as runtime:
        store = runtime.store
        ids = list(store.iter_ids(collection))
        rows = []
        for i in range(0, len(ids), 2000):
            rows += store.get_with_embeddings(collection, ids[i : i + 2000])
        embedder = runtime.searcher.embedder
        query_ids = list(texts)
        vectors = [await embedder.embed_query(texts[q]) for q in query_ids]
        nowhere = MetadataFilter.parse(None)
        lexical = [
            runtime.searcher.lexical.search(collection, texts[q], LEXICAL_DEPTH, nowhere)
            for q in query_ids
        ]
    chunk_index = {chunk.id: n for n, (chunk, _) in enumerate(rows)}
    lex_idx = np.full((len(query_ids), LEXICAL_DEPTH), -1, dtype=np.int64)
    lex_score = np.zeros((len(query_ids), LEXICAL_DEPTH), dtype=np.float32)
    for qi, ranked in enumerate(lexical):
        for r, (chunk_id, value) in enumerate(ranked):
            lex_idx[qi, r] = chunk_index.get(chunk_id, -1)
            lex_score[qi, r] = value
    np.savez_compressed(
        out,
        chunk_ids=np.array([c.id for c, _ in rows]),
        chunk_docs=np.array([doc_id_of(str(c.metadata.get("source", ""))) for c, _ in rows]),
        chunk_texts=np.array([c.text for c, _ in rows]),
        chunk_vectors=np.asarray([v for _, v in rows], dtype=np.float32),
        query_ids=np.array(query_ids),
        query_texts=np.array([texts[q] for q in query_ids]),
        query_vectors=np.asarray(vectors, dtype=np.float32),
        lexical_index=lex_idx,
        lexical_score=lex_score,
        qrels=np.array(json.dumps(judged)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(dump(args.queries, args.qrels, args.collection, args.out))


if __name__ == "__main__":
    main()
