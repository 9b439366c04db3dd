"""Search a collection: dense (Chroma), lexical (BM25) or hybrid (weighted rank fusion).

Hybrid takes the dense top-N and the lexical top-N (N = max(4k, 20)), scores each chunk
``sum(weight / (rrf_k + rank))`` over the lists it appears in, and keeps the best ``k``.
With ``fusion = "adaptive"`` (the default) the dense list's weight says whether its best
match beats chance and whether it agrees with BM25's best (:mod:`retrieval.fusion`); with
``"rrf"`` both weigh 1.
``Hit.score`` is the mode's own score (cosine, BM25 or RRF); the dense cosine and the BM25
score travel in ``metadata`` under :data:`DENSE_SCORE_KEY` / ``LEXICAL_SCORE_KEY`` so
relevance thresholds can use them whatever the mode.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.errors import InvalidRequest
from retrieval.filters import MetadataFilter
from retrieval.fusion import (
    LOOK_UP,
    PROFILE_SAMPLE,
    CollectionProfile,
    cosine,
    dense_weight,
    lexical_top_cosine,
    weighted_rrf,
)
from retrieval.lexical import LEXICAL_SCORE_KEY, Analyzer, LexicalIndexes, track_changes
from retrieval.settings import RetrievalMode, Settings
from retrieval.store import ChunkReader, ChunkStore
from retrieval.types import Embedder, Hit

DENSE_SCORE_KEY = "score_dense"
"""Metadata key carrying a hit's dense cosine similarity."""

SOURCE_KEY = "source"
MODES: tuple[RetrievalMode, ...] = ("dense", "lexical", "hybrid")
MAX_K = 1000
MMR_MAX_K = 100
"""Largest ``k`` with MMR: its candidates (``candidate_count(k)``, 400) bound its work."""
MMR_LAMBDA = 0.7
"""Weight of relevance against novelty in MMR (1.0 = plain ranking)."""


@dataclass(frozen=True)
class SearchRequest:
    """One search.

    Attributes:
        query: the question text.
        collection: the collection to search.
        k: hits wanted; None means ``settings.retrieval.k``.
        mode: ``dense``, ``lexical`` or ``hybrid``; None means ``settings.retrieval.mode``.
        filters: ``{"source": ..., "page_min": n, "page_max": n, other_key: value}``.
        mmr: re-rank the candidates for diversity (maximal marginal relevance).
    """

    query: str
    collection: str = "default"
    k: int | None = None
    mode: RetrievalMode | None = None
    filters: Mapping[str, Any] | None = None
    mmr: bool = False


PROFILE_RECHECK_SECONDS = 30.0
"""How often a collection's chunk count is compared with its cached fusion profile's."""


def _dense_share(
    profile: CollectionProfile,
    vector: Sequence[float],
    dense: Sequence[Hit],
    lexical: Sequence[Hit],
    top_vector: Sequence[float] | None,
) -> float:
    """The dense ranking's weight in hybrid fusion (:func:`retrieval.fusion.dense_weight`).

    BM25's top hit's cosine is its dense score when the dense list has it, else computed
    from ``top_vector`` (its vector, loaded with the lexical hits' texts), and counts only
    when it could still change the weight.
    """
    cosines = profile.cosines(vector)
    if cosines is None:
        return 1.0
    ratio = cosines.chance_ratio(dense[0].score)
    if dense_weight(ratio) == 1.0:
        return 1.0
    top_cosine = lexical_top_cosine(cosines, dense, lexical)
    if top_cosine == LOOK_UP:
        top_cosine = None if top_vector is None else cosine(vector, top_vector)
    agreement_z = None if top_cosine is None else cosines.z(float(top_cosine))
    return dense_weight(ratio, agreement_z)


def candidate_count(k: int) -> int:
    """How many candidates each list contributes to fusion (and to MMR)."""
    return max(k * 4, 20)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], rrf_k: int) -> list[Hit]:
    """Fuse ranked lists; a hit's score becomes ``sum(1 / (rrf_k + rank))`` (rank from 1).

    Metadata of a chunk found by several lists is merged, so both the dense and the
    lexical score survive; its text is the first non-empty one (lexical hits carry none).
    """
    return weighted_rrf([(ranking, 1.0) for ranking in rankings], rrf_k)


def mmr_rerank(
    hits: Sequence[Hit], k: int, analyzer: Analyzer, weight: float = MMR_LAMBDA
) -> list[Hit]:
    """Maximal marginal relevance over ``hits`` (ranked best first).

    Relevance is the rank-normalised score; redundancy is the cosine between the chunks'
    term-count vectors, so near-duplicate chunks (overlapping windows, repeated
    boilerplate) give way to different ones. Scores stay as they were; only order changes.

    Each chunk's redundancy (its largest cosine to a chosen chunk) is kept up to date
    with one matrix-vector product per pick: ``O(k * n * vocabulary)`` array work for
    ``n`` candidates, instead of ``k^2 * n`` Python cosines.
    """
    if len(hits) <= 1:
        return list(hits[:k])
    unit = _unit_term_matrix([Counter(analyzer.terms(hit.text)) for hit in hits])
    n = len(hits)
    relevance = 1.0 - np.arange(n, dtype=np.float64) / n
    redundancy = np.zeros(n, dtype=np.float64)
    available = np.ones(n, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < min(k, n):
        gain = weight * relevance - (1.0 - weight) * redundancy
        best = int(np.argmax(np.where(available, gain, -np.inf)))  # first of equals wins
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, unit @ unit[best])
    return [hits[i] for i in chosen]


def _unit_term_matrix(vectors: Sequence[Counter[str]]) -> npt.NDArray[np.float64]:
    """Rows of term counts over the candidates' vocabulary, scaled to unit length."""
    vocabulary: dict[str, int] = {}
    for vector in vectors:
        for term in vector:
            vocabulary.setdefault(term, len(vocabulary))
    matrix = np.zeros((len(vectors), max(len(vocabulary), 1)), dtype=np.float64)
    for row, vector in enumerate(vectors):
        for term, count in vector.items():
            matrix[row, vocabulary[term]] = count
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0.0, 1.0, norms)


class Searcher:
    """Runs :class:`SearchRequest`s against the store, the embedder and the lexical index.

    Args:
        settings: the settings tree (retrieval defaults, Chroma mode for the lexical index).
        store: the chunk store.
        embedder: embeds queries; must be the model that built the collection.
        lexical: the lexical indexes; by default persisted under :func:`lexical_root`,
            subscribed to ``store`` (which also gets its change log), so that every write
            through this store updates them in proportion to the change.
    """

    def __init__(
        self,
        settings: Settings,
        store: ChunkStore,
        embedder: Embedder,
        *,
        lexical: LexicalIndexes | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._embedder = embedder
        self.lexical = lexical or lexical_indexes_for(settings, store)
        self._profiles: dict[str, tuple[CollectionProfile, float]] = {}
        """Per collection: its profile and when its chunk count was last compared."""
        self._profiles_guard = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    async def search(self, request: SearchRequest) -> list[Hit]:
        """The best ``k`` chunks for the request, best first.

        Raises:
            CollectionNotFound: no such collection.
            EmbeddingModelMismatch: the collection was built with another embedding model.
            InvalidRequest: an empty query, a bad ``k``, mode or filter.
            OllamaUnavailable, OllamaModelMissing, OllamaFailed: embedding the query failed.
        """
        query = request.query.strip()
        if not query:
            raise InvalidRequest("Expected a non-empty query, got an empty string.")
        k = self._settings.retrieval.k if request.k is None else request.k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidRequest(f"Expected k between 1 and {MAX_K}, got {k!r}.")
        if request.mmr and k > MMR_MAX_K:
            raise InvalidRequest(
                f"Expected k at most {MMR_MAX_K} with mmr (diversifying costs grow with k), "
                f"got {k}. Ask for fewer hits, or search without mmr."
            )
        mode = request.mode or self._settings.retrieval.mode
        if mode not in MODES:
            raise InvalidRequest(f"Expected mode to be one of {', '.join(MODES)}, got {mode!r}.")
        where = MetadataFilter.parse(request.filters)
        pool = candidate_count(k) if (mode == "hybrid" or request.mmr) else k
        name = request.collection
        texts = pool if request.mmr else k  # lexical hits loaded with their text
        if mode == "lexical":
            hits, _ = await self._lexical(name, query, pool, where, texts)
        else:
            # the collection is looked up (and its model checked) once, beside the query's
            # embedding; its error comes first
            reader = asyncio.ensure_future(
                asyncio.to_thread(self._store.reader, name, embed_model=self._embedder.model)
            )
            if mode == "dense":
                _, (_, hits) = await _first_error_first(
                    reader, self._dense_with_vector(reader, query, pool, where)
                )
            else:
                # BM25's top hit's vector for the adaptive weight rides in the lexical half's
                # thread hop
                adaptive = self._settings.retrieval.fusion == "adaptive"
                _, (lexical, top_vector), (vector, dense), profile = await _first_error_first(
                    reader,
                    self._lexical(name, query, pool, where, texts, reader, top_vector=adaptive),
                    self._dense_with_vector(reader, query, pool, where),
                    self._profile_for(name),
                )
                dense_share = 1.0
                if dense and profile is not None:
                    dense_share = _dense_share(profile, vector, dense, lexical, top_vector)
                hits = weighted_rrf(
                    [(dense, dense_share), (lexical, 1.0)], self._settings.retrieval.rrf_k
                )
        hits = hits if request.mmr else hits[:k]
        loaded = {hit.id for hit in hits if hit.text}
        if len(loaded) < len(hits):
            # rare: a lexical hit ranked below those whose text was loaded
            hits = await asyncio.to_thread(self._with_texts, name, hits, loaded)
        if request.mmr:  # O(k * candidates) term-vector cosines: CPU work, off the loop
            return await asyncio.to_thread(mmr_rerank, hits, k, self.lexical.analyzer)
        return hits

    async def _dense_with_vector(
        self, reader: Awaitable[ChunkReader], query: str, n: int, where: MetadataFilter
    ) -> tuple[list[float], list[Hit]]:
        """The query's vector (for the adaptive weight) and its dense hits."""
        vector = await self._embedder.embed_query(query)
        hits = await asyncio.to_thread(self._dense_sync, await reader, vector, n, where)
        return vector, [
            Hit(
                id=hit.id,
                text=hit.text,
                score=hit.score,
                metadata={**hit.metadata, DENSE_SCORE_KEY: hit.score},
            )
            for hit in hits
        ]

    async def _profile_for(self, name: str) -> CollectionProfile | None:
        """The collection's profile for the adaptive weight (None: weigh dense fully)."""
        if self._settings.retrieval.fusion != "adaptive":
            return None
        with self._profiles_guard:
            cached = self._profiles.get(name)
        if cached is not None and time.monotonic() - cached[1] < PROFILE_RECHECK_SECONDS:
            return cached[0]  # the usual case: no thread hop, no Chroma call
        return await asyncio.to_thread(self._profile, name, cached)

    def _profile(
        self, name: str, cached: tuple[CollectionProfile, float] | None
    ) -> CollectionProfile | None:
        """A sample of ``name``'s vectors, kept (``cached``) until its chunk count moves by 10%.

        Called at most every :data:`PROFILE_RECHECK_SECONDS` per collection. The count is
        the lexical index's (Chroma's count holds the GIL in proportion to the collection:
        0.16 s at 1.27M chunks, 7 s for a process's first).
        """
        now = time.monotonic()
        # the lexical index mirrors the chunks: its count and its sample cost no Chroma scan
        # (Chroma counts in proportion to the collection and pages only by offset)
        count = self.lexical.size(name) or self._store.chunk_count(name)
        if cached is not None and abs(cached[0].count - count) <= count // 10:
            with self._profiles_guard:
                self._profiles[name] = (cached[0], now)
            return cached[0]
        vectors = self._sample_vectors(name)
        profile = CollectionProfile.of(vectors, count) if vectors else None
        if profile is not None:
            with self._profiles_guard:
                self._profiles[name] = (profile, now)
        return profile

    def _sample_vectors(self, name: str) -> list[list[float]]:
        """About :data:`PROFILE_SAMPLE` stored vectors of ``name``, drawn uniformly.

        By ids drawn from the persisted lexical index (1,024 lookups by id: 0.1 s at 1.27M
        chunks); Chroma's offset pages (16-32 s there) only for an index kept in memory.
        """
        ids = self.lexical.sample_ids(name, PROFILE_SAMPLE)
        if len(ids) >= PROFILE_SAMPLE // 2:
            return [vector for _, vector in self._store.get_with_embeddings(name, ids)]
        return self._store.sample_embeddings(name, PROFILE_SAMPLE)

    def _dense_sync(
        self, reader: ChunkReader, vector: list[float], n: int, where: MetadataFilter
    ) -> list[Hit]:
        """Chroma's search; with a ``source`` filter, that document's chunks ranked here.

        The chunk ids come from the document record and the vectors by id, so the filter
        costs lookups by id, not a scan of the collection's metadata (the rest of the filter
        is checked on that one document's chunks). A document being re-ingested, or without
        a record, falls back to Chroma's ``where``.
        """
        source = where.equals.get(SOURCE_KEY)
        ids = self._store.source_chunk_ids(reader.name, source) if isinstance(source, str) else None
        if ids is None:
            return reader.query(vector, n, where.where())
        rows = [(c, v) for c, v in reader.get_with_embeddings(ids) if where.matches(c.metadata)]
        if not rows:
            return []
        matrix = np.asarray([v for _, v in rows], dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query))
        cosines = (matrix @ query) / np.clip(norms, 1e-12, None)
        order = np.argsort(-cosines, kind="stable")[:n]
        return [
            Hit(
                id=rows[i][0].id,
                text=rows[i][0].text,
                score=float(cosines[i]),
                metadata=rows[i][0].metadata,
            )
            for i in order.tolist()
        ]

    async def _lexical(
        self,
        name: str,
        query: str,
        n: int,
        where: MetadataFilter,
        texts: int,
        reader: Awaitable[ChunkReader] | None = None,
        *,
        top_vector: bool = False,
    ) -> tuple[list[Hit], list[float] | None]:
        """The BM25 hits (the first ``texts`` with their text), in one thread hop.

        ``reader`` is the collection looked up (and checked) by the caller; without it, the
        collection is looked up in that hop (which checks that it exists).

        Returns:
            The hits, and the top hit's vector when ``top_vector`` (else None).
        """
        collection = name if reader is None else await reader
        return await asyncio.to_thread(
            self._lexical_sync, collection, query, n, where, texts, top_vector
        )

    def _lexical_sync(
        self,
        reader: ChunkReader | str,
        query: str,
        n: int,
        where: MetadataFilter,
        texts: int,
        top_vector: bool,
    ) -> tuple[list[Hit], list[float] | None]:
        """Rank, and load the texts of the first ``texts`` hits (``reader``: or its name).

        The index holds no text: the texts and metadata of the first ``texts`` hits (those a
        search usually keeps) come from Chroma by id; a hit among them whose chunk is gone
        by now (deleted after the index answered) is dropped. The others carry no text.
        With ``top_vector``, the same lookup also returns the vectors, and the top hit's is
        returned too (0.1-0.2 ms more than the texts alone, where a lookup of its own after
        the dense search cost a thread hop and a Chroma call: 2.7 ms p50 at 122k chunks).

        Raises:
            CollectionNotFound: no such collection (given by name).
        """
        if isinstance(reader, str):
            reader = self._store.reader(reader)
        ranked = [(i, s) for i, s in self.lexical.search(reader.name, query, n, where) if s > 0.0]
        wanted = [i for i, _ in ranked[:texts]]
        vectors: dict[str, list[float]] = {}
        if top_vector:
            rows = reader.get_with_embeddings(wanted)
            first = {chunk.id: chunk for chunk, _ in rows}
            vectors = {chunk.id: vector for chunk, vector in rows}
        else:
            first = {c.id: c for c in reader.get_chunks(wanted)}
        hits: list[Hit] = []
        for rank, (chunk_id, score) in enumerate(ranked):
            chunk = first.get(chunk_id)
            if chunk is not None:
                metadata = {**chunk.metadata, LEXICAL_SCORE_KEY: score}
                hits.append(Hit(id=chunk_id, text=chunk.text, score=score, metadata=metadata))
            elif rank >= texts:
                hits.append(Hit(chunk_id, "", score, {LEXICAL_SCORE_KEY: score}))
        return hits, (vectors.get(hits[0].id) if hits else None)

    def _with_texts(self, name: str, hits: Sequence[Hit], loaded: set[str]) -> list[Hit]:
        """``hits`` with text and metadata from Chroma for those not in ``loaded``.

        A hit whose chunk is gone by now (deleted after the index answered) is dropped.
        """
        wanted = [hit.id for hit in hits if hit.id not in loaded]
        chunks = {c.id: c for c in self._store.get_chunks(name, wanted)}
        kept: list[Hit] = []
        for hit in hits:
            chunk = chunks.get(hit.id)
            if hit.id in loaded:
                kept.append(hit)
            elif chunk is not None:
                metadata = {**chunk.metadata, **hit.metadata}
                kept.append(Hit(id=hit.id, text=chunk.text, score=hit.score, metadata=metadata))
        return kept


async def _first_error_first(*steps: Awaitable[Any]) -> list[Any]:
    """Run ``steps`` concurrently; their results, or the error of the first that failed.

    Errors keep their order of precedence whatever finished first (a missing collection is
    reported before an unreachable embedding server), as when the steps ran in sequence.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def lexical_root(settings: Settings, store: ChunkStore) -> Path | None:
    """Where lexical indexes persist.

    Embedded Chroma: beside the database (``<chroma path>/lexical``). A Chroma server: on
    this machine, under ``<DOCENT_CHROMA_PATH>/lexical-servers/<host>-<port>`` (each replica
    keeps its own copy and catches up from the change log). An in-memory store: nowhere.
    """
    if settings.chroma.is_server:
        server = f"{settings.chroma.host}-{settings.chroma.port}".replace("/", "_")
        return Path(settings.chroma.path).expanduser() / "lexical-servers" / server
    if store.persist_dir is None:
        return None
    return store.persist_dir / "lexical"


_INDEXES: weakref.WeakKeyDictionary[ChunkStore, LexicalIndexes] = weakref.WeakKeyDictionary()
_INDEXES_GUARD = threading.Lock()


def lexical_indexes_for(settings: Settings, store: ChunkStore) -> LexicalIndexes:
    """The lexical indexes that follow ``store``: one per store, made on first use.

    They are subscribed to the store (with its change log: :func:`track_changes`), so every
    write through it updates them in proportion to the change, and closed (committed) when
    the process exits.
    """
    with _INDEXES_GUARD:
        indexes = _INDEXES.get(store)
        if indexes is None:
            indexes = LexicalIndexes(store, lexical_root(settings, store))
            store.subscribe(indexes)  # before the log: a write is applied, then logged
            track_changes(store).listeners.append(indexes.own_entries)
            if indexes.folder is not None:  # commit what is buffered (else replayed next time)
                atexit.register(indexes.close)
            _INDEXES[store] = indexes
        return indexes


def follow_writes(settings: Settings, store: ChunkStore) -> None:
    """Make a writing process keep the lexical indexes current.

    Every writer appends to the change log, from which other processes catch up. With
    embedded Chroma (one process writes at a time) the writer also updates the persisted
    index itself, so that the next ``docent serve`` or ``docent ask`` starts current.
    """
    if not settings.chroma.is_server and store.persist_dir is not None:
        lexical_indexes_for(settings, store)
    track_changes(store)


def is_relevant(hit: Hit, min_score: float) -> bool:
    """Whether a hit counts as relevant for answering.

    The dense cosine must reach ``min_score`` when the hit has one; a hit found only
    lexically counts when its BM25 score is positive.
    """
    dense = hit.metadata.get(DENSE_SCORE_KEY)
    if isinstance(dense, int | float) and not isinstance(dense, bool):
        return float(dense) >= min_score
    lexical = hit.metadata.get(LEXICAL_SCORE_KEY)
    return isinstance(lexical, int | float) and float(lexical) > 0.0
