"""Retrieval evaluation on BEIR-format data.

Load the data, run every query per mode, and score with ``ir_measures`` (nDCG@10,
Recall@10, Recall@100, MRR@10).

Evaluation is document-level: chunks are searched, and a document's score is its best
chunk's. Each BEIR document is ingested as one file named ``<doc id>.txt``
(:func:`source_for`), which is how hits are mapped back to document ids.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import RR, R, nDCG

from retrieval.errors import InvalidRequest
from retrieval.search import Searcher, SearchRequest
from retrieval.settings import RetrievalMode


def measures(k: int = 10) -> dict[str, Any]:
    """Our metric names and the ``ir_measures`` measures behind them (cut-off ``k``)."""
    return {f"ndcg@{k}": nDCG @ k, f"recall@{k}": R @ k, "recall@100": R @ 100, f"mrr@{k}": RR @ k}


MEASURES = measures(10)
"""The default metrics: nDCG@10, Recall@10, Recall@100, MRR@10."""
RUN_DEPTH = 100
"""Documents ranked per query (enough for Recall@100)."""
CHUNKS_PER_DOC = 3
"""Chunks fetched per wanted document, since several chunks may share a document."""

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class BeirDoc:
    id: str
    title: str
    text: str

    @property
    def content(self) -> str:
        """Title and text, as the document is ingested."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


@dataclass
class BeirData:
    """A BEIR corpus, its queries and relevance judgments (only judged queries are kept)."""

    corpus: dict[str, BeirDoc]
    queries: dict[str, str]
    qrels: Qrels = field(default_factory=dict)


def source_for(doc_id: str) -> str:
    """The file name a BEIR document is ingested under."""
    return f"{doc_id}.txt"


def doc_id_of(source: str) -> str:
    """The BEIR document id of an ingested source (inverse of :func:`source_for`)."""
    return source.removesuffix(".txt")


def _jsonl(path: Path, required: Sequence[str]) -> Iterable[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequest(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(
                f"Expected one JSON object per line in {path}, got invalid JSON on line {number}."
            ) from exc
        missing = [key for key in required if not isinstance(row, dict) or key not in row]
        if missing:
            raise InvalidRequest(
                f"Expected keys {', '.join(required)} on line {number} of {path}, "
                f"missing {', '.join(missing)}."
            )
        yield row


def load_qrels(path: Path) -> Qrels:
    """Read a BEIR qrels TSV (``query-id, corpus-id, score``, header optional)."""
    qrels: Qrels = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    for number, row in enumerate(csv.reader(text.splitlines(), delimiter="\t"), start=1):
        if not row or (number == 1 and row[0] == "query-id"):
            continue
        try:
            query_id, doc_id, score = row[0], row[1], int(row[2])
        except (IndexError, ValueError) as exc:
            raise InvalidRequest(
                f"Expected 'query-id<TAB>corpus-id<TAB>score' on line {number} of {path}, "
                f"got {row!r}."
            ) from exc
        qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


def load_beir(corpus: Path, queries: Path, qrels: Path) -> BeirData:
    """Load a BEIR data set; queries without judgments are dropped.

    Raises:
        InvalidRequest: a file is missing or malformed (the message names the line).
    """
    judged = load_qrels(qrels)
    docs = {
        str(row["_id"]): BeirDoc(str(row["_id"]), str(row.get("title") or ""), str(row["text"]))
        for row in _jsonl(corpus, ("_id", "text"))
    }
    texts = {
        str(row["_id"]): str(row["text"])
        for row in _jsonl(queries, ("_id", "text"))
        if str(row["_id"]) in judged
    }
    if not texts:
        raise InvalidRequest(
            f"Expected queries in {queries} with judgments in {qrels}, got none in common."
        )
    return BeirData(corpus=docs, queries=texts, qrels={q: judged[q] for q in texts})


def limit(data: BeirData, *, queries: int | None = None, corpus: int | None = None) -> BeirData:
    """A smaller data set for quick runs.

    Keeps the first ``queries`` queries, and a corpus of ``corpus`` documents that always
    contains every document judged for a kept query.
    """
    kept_queries = dict(list(data.queries.items())[:queries]) if queries else dict(data.queries)
    qrels = {q: data.qrels[q] for q in kept_queries}
    if not corpus:
        return BeirData(corpus=dict(data.corpus), queries=kept_queries, qrels=qrels)
    needed = {doc for judged in qrels.values() for doc in judged if doc in data.corpus}
    ids = list(needed)
    for doc_id in data.corpus:
        if len(ids) >= corpus:
            break
        if doc_id not in needed:
            ids.append(doc_id)
    kept = set(ids)
    ordered = [doc_id for doc_id in data.corpus if doc_id in kept]
    return BeirData(
        corpus={doc_id: data.corpus[doc_id] for doc_id in ordered},
        queries=kept_queries,
        qrels=qrels,
    )


def score(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], k: int = 10
) -> dict[str, float]:
    """The mean of each metric of :func:`measures` over the judged queries."""
    chosen = measures(k)
    values = ir_measures.calc_aggregate(
        list(chosen.values()),
        {q: dict(d) for q, d in qrels.items()},
        {q: dict(d) for q, d in run.items()},
    )
    return {name: float(values.get(measure, 0.0)) for name, measure in chosen.items()}


def document_scores(hits: Sequence[Any], depth: int = RUN_DEPTH) -> dict[str, float]:
    """Document-level ranking from chunk hits (best first): a document keeps its best rank.

    Scores are ``1 / rank`` of the document's first chunk, so ties never reorder.
    """
    ranked: dict[str, float] = {}
    for hit in hits:
        doc_id = doc_id_of(hit.source)
        if doc_id not in ranked:
            ranked[doc_id] = 1.0 / (len(ranked) + 1)
            if len(ranked) >= depth:
                break
    return ranked


@dataclass(frozen=True)
class ModeResult:
    """Metrics of one mode, and how long its queries took."""

    mode: RetrievalMode
    metrics: dict[str, float]
    seconds: float
    queries: int


async def run_mode(
    searcher: Searcher,
    collection: str,
    data: BeirData,
    mode: RetrievalMode,
    *,
    k: int = 10,
    depth: int = RUN_DEPTH,
    concurrency: int = 4,
) -> ModeResult:
    """Run every query of ``data`` in ``mode`` and score the document-level run at ``k``."""
    started = time.perf_counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(query_id: str, text: str) -> tuple[str, dict[str, float]]:
        async with gate:
            hits = await searcher.search(
                SearchRequest(
                    query=text, collection=collection, k=depth * CHUNKS_PER_DOC, mode=mode
                )
            )
        return query_id, document_scores(hits, depth)

    pairs = await asyncio.gather(*(one(q, t) for q, t in data.queries.items()))
    run: Run = dict(pairs)
    return ModeResult(
        mode=mode,
        metrics=score(data.qrels, run, k),
        seconds=time.perf_counter() - started,
        queries=len(run),
    )
