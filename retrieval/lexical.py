"""BM25 lexical retrieval (bm25s), kept consistent with the Chroma collection it mirrors.

How the lexical index follows the collection:

- The index of a collection is built from every chunk in Chroma
  (``ChunkStore.iter_chunks``) and tagged with the collection's revision token
  (``ChunkStore.revision``), which changes whenever ingest, change or delete touches the
  collection. Every search first reads the (cheap) revision; when it differs from the
  cached index's, the index is rebuilt. So the lexical index can never lag behind
  ingestion by more than one search, and nobody has to remember to "update" it.
- Embedded Chroma: the index is persisted beside the database, under
  ``<chroma path>/lexical/<collection>/<revision>/``. A restart loads it instead of
  rebuilding; older revisions are deleted when a new one is written.
- Chroma server with several API replicas: Chroma is the single source of truth and the
  revision token lives in it, so it is shared by all replicas. Each replica keeps its own
  in-memory index per collection and rebuilds it when it sees a new revision (nothing is
  written to local disk: replicas may not share one). After an ingest, each replica pays
  one rebuild (about a second per 10,000 chunks) on its next lexical or hybrid search;
  dense search is unaffected. Replicas never disagree for longer than that.

Tokenisation (:class:`Analyzer`): NFKC, lower case, words of two or more letters or
digits, English stopwords removed, an optional stemmer for Latin-script words; CJK text
(which has no spaces) becomes overlapping character bigrams, so Chinese and Japanese
queries match without a word segmenter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from retrieval.types import Chunk, Hit, Metadata

logger = logging.getLogger(__name__)

LEXICAL_SCORE_KEY = "score_lexical"
"""Metadata key carrying a hit's BM25 score (hybrid and lexical modes)."""

INDEX_FORMAT = 1
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]{{2,}}")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_LATIN_WORD = re.compile(r"[a-z]+")

Stemmer = Callable[[list[str]], list[str]]
"""Stems a list of words (PyStemmer's ``stemWords`` has this shape)."""


def default_stemmer() -> Stemmer | None:
    """PyStemmer's English Snowball stemmer when PyStemmer is installed, else None."""
    try:
        import Stemmer as pystemmer  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    stemmer: Stemmer = pystemmer.Stemmer("english").stemWords
    return stemmer


@dataclass(frozen=True)
class Analyzer:
    """Turns text into BM25 terms.

    Attributes:
        stopwords: words dropped (English by default).
        stemmer: optional stemmer for Latin-script words.
    """

    stopwords: frozenset[str] = frozenset(STOPWORDS_EN)
    stemmer: Stemmer | None = None

    @property
    def signature(self) -> str:
        """Identifies the analysis, so a persisted index built differently is rebuilt."""
        stem = "none" if self.stemmer is None else "stem"
        words = hashlib.sha1("\n".join(sorted(self.stopwords)).encode()).hexdigest()[:8]
        return f"v{INDEX_FORMAT}-{stem}-{words}"

    def terms(self, text: str) -> list[str]:
        """The BM25 terms of ``text``."""
        normal = unicodedata.normalize("NFKC", text).casefold()
        words: list[str] = []
        for token in _TOKEN.findall(normal):
            if _CJK_RUN.fullmatch(token):
                words.extend(_bigrams(token))
            elif token not in self.stopwords:
                words.append(token)
        if self.stemmer is None:
            return words
        latin = [i for i, word in enumerate(words) if _LATIN_WORD.fullmatch(word)]
        stems = self.stemmer([words[i] for i in latin])
        for i, stem in zip(latin, stems, strict=True):
            words[i] = stem
        return words


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


MetadataPredicate = Callable[[Metadata], bool]


class LexicalIndex:
    """A BM25 index over the chunks of one collection (immutable once built)."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        analyzer: Analyzer,
        bm25: bm25s.BM25 | None = None,
    ) -> None:
        self.chunks = list(chunks)
        self.analyzer = analyzer
        if bm25 is None and self.chunks:
            bm25 = bm25s.BM25()
            corpus = [analyzer.terms(chunk.text) for chunk in self.chunks]
            bm25.index(corpus, show_progress=False)
        self._bm25 = bm25

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, query: str, k: int, predicate: MetadataPredicate | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query`` with a BM25 score above 0.

        Args:
            query: the question text.
            k: how many hits at most.
            predicate: keeps only chunks whose metadata it accepts (metadata filters).

        Returns:
            Hits, best first; ``score`` (and ``metadata[LEXICAL_SCORE_KEY]``) is the BM25 score.
        """
        terms = self.analyzer.terms(query)
        if self._bm25 is None or not terms or k <= 0:
            return []
        mask: np.ndarray[Any, np.dtype[np.float32]] | None = None
        if predicate is not None:
            mask = np.fromiter(
                (1.0 if predicate(chunk.metadata) else 0.0 for chunk in self.chunks),
                dtype=np.float32,
                count=len(self.chunks),
            )
            if not mask.any():
                return []
        docs, scores = self._bm25.retrieve(
            [terms], k=min(k, len(self.chunks)), show_progress=False, weight_mask=mask
        )
        hits: list[Hit] = []
        for index, score in zip(docs[0].tolist(), scores[0].tolist(), strict=True):
            if score <= 0.0:
                continue
            chunk = self.chunks[int(index)]
            metadata = {**chunk.metadata, LEXICAL_SCORE_KEY: float(score)}
            hits.append(Hit(id=chunk.id, text=chunk.text, score=float(score), metadata=metadata))
        return hits

    def save(self, folder: Path) -> None:
        """Write the index to ``folder`` (created; bm25s arrays plus ``chunks.jsonl``)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)
        with (folder / "chunks.jsonl").open("w", encoding="utf-8") as out:
            for chunk in self.chunks:
                record = {"id": chunk.id, "text": chunk.text, "metadata": dict(chunk.metadata)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        (folder / "analyzer.txt").write_text(self.analyzer.signature, encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, analyzer: Analyzer) -> LexicalIndex | None:
        """Read an index written by :meth:`save`; None when absent or built differently."""
        try:
            if (folder / "analyzer.txt").read_text(encoding="utf-8") != analyzer.signature:
                return None
            with (folder / "chunks.jsonl").open(encoding="utf-8") as lines:
                chunks = [
                    Chunk(id=row["id"], text=row["text"], metadata=row["metadata"])
                    for row in map(json.loads, lines)
                ]
            bm25 = bm25s.BM25.load(str(folder), show_progress=False) if chunks else None
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("event=lexical_load_failed folder=%s error=%s", folder, exc)
            return None
        return cls(chunks, analyzer, bm25)


class ChunkSource(Protocol):
    """What the lexical indexes need from the store (``ChunkStore`` provides it)."""

    def revision(self, name: str) -> str: ...

    def iter_chunks(self, name: str, batch_size: int = 1000) -> Iterable[Chunk]: ...


def _folder_name(revision: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", revision) and revision not in (".", ".."):
        return revision
    return hashlib.sha256(revision.encode("utf-8")).hexdigest()[:32]


class LexicalIndexes:
    """The lexical index of each collection, rebuilt whenever its revision changes.

    Thread-safe; blocking (call from a worker thread in async code).

    Args:
        store: where chunks and revision tokens come from.
        root: folder for persisted indexes (embedded Chroma: ``<chroma path>/lexical``);
            None keeps indexes in memory only (Chroma server mode).
        analyzer: tokenisation; defaults to :func:`default_analyzer`.
    """

    def __init__(
        self, store: ChunkSource, root: Path | None, analyzer: Analyzer | None = None
    ) -> None:
        self._store = store
        self._root = root
        self.analyzer = analyzer or default_analyzer()
        self._cache: dict[str, tuple[str, LexicalIndex]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.builds = 0

    def get(self, collection: str) -> LexicalIndex:
        """The index of ``collection`` at its current revision (loaded or built as needed)."""
        revision = self._store.revision(collection)
        cached = self._cache.get(collection)
        if cached is not None and cached[0] == revision:
            return cached[1]
        with self._lock(collection):
            revision = self._store.revision(collection)
            cached = self._cache.get(collection)
            if cached is not None and cached[0] == revision:
                return cached[1]
            index = self._load(collection, revision) or self._build(collection, revision)
            self._cache[collection] = (revision, index)
            return index

    def forget(self, collection: str) -> None:
        """Drop the cached and persisted index of ``collection`` (after deleting it)."""
        with self._lock(collection):
            self._cache.pop(collection, None)
            if self._root is not None:
                shutil.rmtree(self._collection_dir(collection), ignore_errors=True)

    def _lock(self, collection: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(collection, threading.Lock())

    def _collection_dir(self, collection: str) -> Path:
        assert self._root is not None
        return self._root / collection

    def _load(self, collection: str, revision: str) -> LexicalIndex | None:
        if self._root is None:
            return None
        folder = self._collection_dir(collection) / _folder_name(revision)
        if not folder.is_dir():
            return None
        return LexicalIndex.load(folder, self.analyzer)

    def _build(self, collection: str, revision: str) -> LexicalIndex:
        chunks = list(self._store.iter_chunks(collection))
        index = LexicalIndex(chunks, self.analyzer)
        self.builds += 1
        logger.info(
            "event=lexical_build collection=%s revision=%s chunks=%d",
            collection,
            revision,
            len(chunks),
        )
        if self._root is not None:
            self._persist(collection, revision, index)
        return index

    def _persist(self, collection: str, revision: str, index: LexicalIndex) -> None:
        parent = self._collection_dir(collection)
        final = parent / _folder_name(revision)
        staging = parent / f".tmp-{final.name}-{threading.get_ident()}"
        try:
            shutil.rmtree(staging, ignore_errors=True)
            index.save(staging)
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            for old in parent.iterdir():
                if old != final and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:  # a read-only or full disk costs a rebuild, not a failure
            logger.warning("event=lexical_persist_failed collection=%s error=%s", collection, exc)
            shutil.rmtree(staging, ignore_errors=True)


def default_analyzer() -> Analyzer:
    """English stopwords, plus stemming when PyStemmer is installed."""
    return Analyzer(stemmer=default_stemmer())
