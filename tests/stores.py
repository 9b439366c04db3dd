"""Test helpers: fill a real Chroma store with chunks, without the ingestion pipeline."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.store import ChunkStore, chunk_metadata
from retrieval.types import Chunk, Embedder


@dataclass(frozen=True)
class Doc:
    source: str
    text: str
    page: int = 0


def make_chunks(docs: Sequence[Doc], embed_model: str) -> list[Chunk]:
    """One chunk per ``Doc`` with the standard metadata (id = source + page)."""
    chunks = []
    for index, doc in enumerate(docs):
        digest = hashlib.sha1(doc.text.encode()).hexdigest()[:12]
        doc_id = hashlib.sha1(doc.source.encode()).hexdigest()[:12]
        chunks.append(
            Chunk(
                id=f"{doc_id}-{doc.page}-{index}",
                text=doc.text,
                metadata=chunk_metadata(
                    source=doc.source,
                    doc_id=doc_id,
                    page=doc.page,
                    chunk_index=index,
                    start=0,
                    end=len(doc.text),
                    doc_hash=digest,
                    embed_model=embed_model,
                ),
            )
        )
    return chunks


async def fill_store(
    store: ChunkStore, collection: str, docs: Sequence[Doc], embedder: Embedder
) -> list[Chunk]:
    """Create ``collection`` (built by ``embedder``) and write ``docs`` into it."""
    chunks = make_chunks(docs, embedder.model)
    vectors = await embedder.embed_documents([c.text for c in chunks])
    store.ensure_collection(collection, embedder.model, len(vectors[0]))
    store.upsert_chunks(collection, chunks, vectors)
    return chunks
