"""One collection's lexical index on tantivy: chunk ids, BM25 terms, filterable metadata.

Nothing of a chunk's text is stored: the index holds the chunk id (stored), the analyzed
terms (indexed with their frequencies, for BM25), the page (a fast numeric field, for page
ranges) and the metadata (a JSON field of exact terms, for equality filters). Texts come
back from Chroma by id for the few hits a search returns.

Writes are buffered in tantivy's writer and committed by :meth:`TantivyIndex.commit`
(the owner decides when: after each write, before the write returns). Searches read the
last committed searcher and take no lock. Deletes are
tombstones until tantivy merges the segment, and no query ever returns a deleted chunk;
:meth:`TantivyIndex.tombstoned_ids` names the live chunks whose rewrite empties the segments
holding them (the purge, :mod:`retrieval.lexical.purge`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import tantivy

from retrieval.filters import MetadataFilter
from retrieval.lexical.analyzer import Analyzer
from retrieval.lexical.segments import Segment, has_deletes, matches_searcher, read_segments
from retrieval.types import Chunk, MetadataValue

logger = logging.getLogger(__name__)

WRITER_HEAP_BYTES = 32_000_000
"""tantivy's writer buffer; it flushes a segment when the buffer is full."""


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    builder.add_float_field("page", indexed=True, fast=True)
    builder.add_json_field("meta", tokenizer_name="raw", index_option="basic")
    return builder.build()


def json_key(key: str) -> str:
    """A metadata key as a JSON path segment (a ``.`` would start a sub-path)."""
    return key.replace("%", "%25").replace(".", "%2E")


def _meta_value(value: MetadataValue) -> MetadataValue:
    # Numbers are indexed as floats so that 2 and 2.0 are equal, as in Chroma's filters.
    if isinstance(value, (bool, str)):
        return value
    return float(value)


class TantivyIndex:
    """A tantivy index of one collection, in ``folder`` (or in memory when None).

    Thread-safe: writes are serialised by a lock; searches use the last reloaded searcher.
    """

    def __init__(self, folder: Path | None, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.folder = folder
        self._schema = _schema()
        if folder is None:
            self._index = tantivy.Index(self._schema)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema, path=str(folder), reuse=True)
        self._index.config_reader(reload_policy="Manual")
        self._lock = threading.Lock()
        self._writer: tantivy.IndexWriter | None = None
        self._dirty = False
        self._searcher = self._index.searcher()

    # -- writing -------------------------------------------------------------------------

    def _writer_locked(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
        return self._writer

    def upsert(self, chunks: Iterable[Chunk]) -> int:
        """Add or replace chunks (buffered until :meth:`commit`); returns how many."""
        return self.add_documents(self.documents(chunks))

    def documents(self, chunks: Iterable[Chunk]) -> list[tuple[str, tantivy.Document]]:
        """The chunks analyzed into (id, document) pairs for :meth:`add_documents`.

        The analysis is the Python part of a write (tokenising, stemming): done here, apart,
        it holds no lock, so a commit (or another writer) never waits for it.
        """
        return [(chunk.id, self._document(chunk)) for chunk in chunks]

    def add_documents(self, documents: Iterable[tuple[str, tantivy.Document]]) -> int:
        """Add or replace analyzed chunks (buffered until :meth:`commit`); returns how many."""
        count = 0
        with self._lock:
            writer = self._writer_locked()
            for chunk_id, document in documents:
                writer.delete_documents_by_term("id", chunk_id)
                writer.add_document(document)
                count += 1
            self._dirty = self._dirty or count > 0
        return count

    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id (absent ids are ignored; buffered until :meth:`commit`)."""
        with self._lock:
            writer = self._writer_locked()
            for chunk_id in ids:
                writer.delete_documents_by_term("id", chunk_id)
                self._dirty = True

    def clear(self) -> None:
        """Remove every chunk (buffered until :meth:`commit`)."""
        with self._lock:
            self._writer_locked().delete_all_documents()
            self._dirty = True

    @property
    def dirty(self) -> bool:
        """Whether changes wait for a commit."""
        return self._dirty

    def commit(self) -> bool:
        """Make buffered changes durable and searchable; False when there were none."""
        with self._lock:
            return self._commit_locked()

    def _commit_locked(self) -> bool:
        if not self._dirty or self._writer is None:
            return False
        self._writer.commit()
        self._dirty = False
        self._index.reload()
        self._searcher = self._index.searcher()
        return True

    def collect_garbage(self) -> None:
        """Delete the files of segments no longer committed.

        tantivy does it at each commit, but skips files a searcher still had open then.
        """
        with self._lock:
            if self._writer is not None:
                self._writer.garbage_collect_files()

    def close(self) -> None:
        """Commit what is pending and release the writer (and its lock on the folder)."""
        self.commit()
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    def _document(self, chunk: Chunk) -> tantivy.Document:
        meta = {json_key(k): _meta_value(v) for k, v in chunk.metadata.items()}
        fields: dict[str, Any] = {
            "id": chunk.id,
            "body": self._body(chunk),
            "meta": meta,
        }
        page = chunk.metadata.get("page")
        if isinstance(page, int | float) and not isinstance(page, bool) and math.isfinite(page):
            fields["page"] = float(page)
        return tantivy.Document(**fields)

    def _body(self, chunk: Chunk) -> str:
        """The chunk's terms: analysed by a reader worker already, or here."""
        terms = chunk.terms
        if terms is not None and terms.analyzer == self.analyzer.signature:
            return terms.body
        return self.analyzer.analyse(chunk.text).body

    # -- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._searcher.num_docs)

    def search(self, query: str, k: int, where: MetadataFilter) -> list[tuple[str, float]]:
        """The ``k`` best (chunk id, BM25 score) pairs for ``query`` within ``where``."""
        terms = list(dict.fromkeys(self.analyzer.terms(query)))
        if not terms or k <= 0:
            return []
        should = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "body", term))
            for term in terms
        ]
        text = tantivy.Query.boolean_query(should)
        clauses = self._filter_clauses(where)
        if clauses:
            text = tantivy.Query.boolean_query([(tantivy.Occur.Must, text), *clauses])
        searcher = self._searcher
        hits = searcher.search(text, limit=k, count=False).hits
        return [(searcher.doc(address)["id"][0], float(score)) for score, address in hits]

    def _filter_clauses(self, where: MetadataFilter) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Filters as zero-score clauses, so they restrict without changing BM25 scores."""
        queries: list[tantivy.Query] = []
        for key, value in where.equals.items():
            path = f"meta.{json_key(key)}"
            queries.append(tantivy.Query.term_query(self._schema, path, _meta_value(value)))
        if where.page_min is not None or where.page_max is not None:
            queries.append(
                tantivy.Query.range_query(
                    self._schema,
                    "page",
                    tantivy.FieldType.Float,
                    None if where.page_min is None else float(where.page_min),
                    None if where.page_max is None else float(where.page_max),
                )
            )
        return [
            (tantivy.Occur.Must, tantivy.Query.const_score_query(query, 0.0)) for query in queries
        ]

    def tombstoned_ids(self, due: Callable[[Segment], bool] = has_deletes) -> list[str] | None:
        """The live chunks that share a committed segment with deleted ones.

        Rewriting them (delete + add, as an upsert does) leaves those segments without a
        live document, so tantivy drops them, and their files, at the next commit. Only
        the segments ``due`` accepts (default: every one holding a delete). Costs a walk
        of the documents' addresses and one stored-id read per chunk returned. Empty when
        no such segment (or the index is in memory); None when a background merge changed
        the segments meanwhile: ask again.
        """
        if self.folder is None:
            return []
        with self._lock:
            self._commit_locked()
            self._index.reload()
            searcher = self._index.searcher()
            segments = read_segments(self.folder)
        targets = {ord_ for ord_, s in enumerate(segments) if has_deletes(s) and due(s)}
        if not targets:
            return []
        total = int(searcher.num_docs)
        hits = [] if total == 0 else searcher.search(tantivy.Query.all_query(), limit=total).hits
        addresses = [address for _, address in hits]
        if searcher.num_segments != len(segments) or not matches_searcher(
            segments, Counter(a.segment_ord for a in addresses)
        ):
            return None
        chosen = [address for address in addresses if address.segment_ord in targets]
        return [searcher.doc(address)["id"][0] for address in chosen]

    def sample_ids(self, n: int, rng: random.Random) -> list[str]:
        """About ``n`` chunk ids drawn uniformly from the committed index ([] in memory).

        Each draw is a document address in a segment chosen by its size (read from
        ``meta.json``), so the cost is ``n`` stored-field reads whatever the index's size.
        A draw may land on a deleted chunk (its id is then absent from Chroma) or, if a
        background merge rewrote ``meta.json`` since the last reload, on a number past its
        segment's end (skipped): callers look the ids up and use what they find.
        """
        if self.folder is None or n <= 0:
            return []
        with self._lock:
            searcher = self._searcher
            segments = read_segments(self.folder)
        sizes = [segment.max_doc for segment in segments]
        if not sizes or sum(sizes) == 0 or searcher.num_segments != len(segments):
            return []
        ids: set[str] = set()
        for ord_ in rng.choices(range(len(sizes)), weights=sizes, k=n):
            address = tantivy.DocAddress(ord_, rng.randrange(sizes[ord_]))
            with contextlib.suppress(ValueError):  # past the segment's end: see above
                ids.add(searcher.doc(address)["id"][0])
        return sorted(ids)

    def ids(self) -> set[str]:
        """Every chunk id in the index (a full walk: for verification, not hot paths)."""
        searcher = self._searcher
        total = int(searcher.num_docs)
        if total == 0:
            return set()
        hits = searcher.search(tantivy.Query.all_query(), limit=total, count=False).hits
        return {searcher.doc(address)["id"][0] for _, address in hits}
