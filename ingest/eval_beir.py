"""``docent eval retrieval``: retrieval quality on a BEIR data set.

The corpus is ingested through the real pipeline, then every retrieval mode is scored
on the queries.

It lives in ``ingest`` (not ``retrieval``) because it ingests: imports point
ingest -> retrieval, never back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.pipeline import Ingestor
from ingest.results import IngestReport
from ingest.sources import SourceFile
from retrieval.embedder import OllamaEmbedder
from retrieval.errors import DocentError, InvalidRequest
from retrieval.evaluation import BeirData, ModeResult, limit, load_beir, run_mode, source_for
from retrieval.search import MODES, Searcher
from retrieval.settings import RetrievalMode, Settings, get_settings
from retrieval.store import ChunkStore
from retrieval.types import Embedder

logger = logging.getLogger(__name__)


@dataclass
class EvalReport:
    """What ``docent eval retrieval`` measured."""

    results: list[ModeResult] = field(default_factory=list)
    documents: int = 0
    queries: int = 0
    ingest: IngestReport | None = None
    ingest_seconds: float = 0.0
    total_seconds: float = 0.0

    def metrics(self) -> dict[str, dict[str, float]]:
        """``{"mode": {"ndcg@10": x, ...}, ...}`` (the ``--json`` output)."""
        return {r.mode: r.metrics for r in self.results}

    def table(self) -> str:
        """A plain-text table of the metrics, with timings."""
        names = list(self.results[0].metrics) if self.results else []
        lines = [f"{'mode':<8} " + " ".join(f"{n:>10}" for n in names) + f" {'seconds':>8}"]
        for r in self.results:
            values = " ".join(f"{r.metrics[n]:>10.4f}" for n in names)
            lines.append(f"{r.mode:<8} {values} {r.seconds:>8.1f}")
        lines.append(
            f"{self.documents} documents, {self.queries} queries; ingest "
            f"{self.ingest_seconds:.1f} s, total {self.total_seconds:.1f} s"
        )
        return "\n".join(lines)


def corpus_files(data: BeirData) -> list[SourceFile]:
    """Each BEIR document (title + text) as an in-memory file ``<id>.txt``."""
    return [
        SourceFile(source=source_for(doc.id), data=doc.content.encode("utf-8"))
        for doc in data.corpus.values()
    ]


async def evaluate_retrieval(
    data: BeirData,
    *,
    modes: Sequence[RetrievalMode] = MODES,
    collection: str = "beir",
    settings: Settings | None = None,
    store: ChunkStore | None = None,
    embedder: Embedder | None = None,
    k: int = 10,
) -> EvalReport:
    """Ingest ``data.corpus``, then run and score every query in each mode.

    Unchanged documents are skipped by the pipeline, so reusing a collection is cheap.

    Args:
        data: the BEIR data (see :func:`retrieval.evaluation.load_beir` and ``limit``).
        modes: retrieval modes to score.
        collection: the collection to fill or reuse.
        settings: defaults to :func:`get_settings`.
        store: defaults to the store of ``settings``.
        embedder: defaults to Ollama's embedding model of ``settings``.
        k: cut-off of nDCG, Recall and MRR (Recall@100 is always reported too).

    Raises:
        DocentError: Ollama or Chroma unusable, or a collection built by another model.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    store = store or ChunkStore.from_settings(settings.chroma)
    own_embedder = OllamaEmbedder(settings.ollama) if embedder is None else None
    chosen: Embedder = embedder if embedder is not None else own_embedder  # type: ignore[assignment]
    report = EvalReport(documents=len(data.corpus), queries=len(data.queries))
    ingestor = Ingestor(store, chosen, settings)
    try:
        report.ingest = await ingestor.ingest(corpus_files(data), collection=collection)
        report.ingest_seconds = time.perf_counter() - started
        failed = report.ingest.failures
        if failed:
            logger.warning("event=eval_ingest_failures count=%d", len(failed))
        searcher = Searcher(settings, store, chosen)
        for mode in modes:
            report.results.append(await run_mode(searcher, collection, data, mode, k=k))
    finally:
        ingestor.close()
        if own_embedder is not None:
            await own_embedder.aclose()
    report.total_seconds = time.perf_counter() - started
    return report


def eval_retrieval_command(
    corpus: Annotated[Path, typer.Option("--corpus", help="BEIR corpus.jsonl.")],
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl.")],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels TSV (e.g. qrels/test.tsv).")],
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="dense, lexical or hybrid; repeatable (default: all three)."),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", min=1, max=100, help="Cut-off of nDCG@k, Recall@k and MRR@k.")
    ] = 10,
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to fill or reuse.")
    ] = "beir",
    limit_queries: Annotated[
        int | None, typer.Option("--limit-queries", min=1, help="Only the first N queries.")
    ] = None,
    limit_corpus: Annotated[
        int | None,
        typer.Option(
            "--limit-corpus",
            min=1,
            help="About N documents: every document judged for a kept query, plus others.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"mode": {"ndcg@10": x, ...}} (stdout).')
    ] = False,
) -> None:
    """Score retrieval on a BEIR data set: nDCG@10, Recall@10, Recall@100, MRR@10 per mode."""
    try:
        modes = _modes(mode)
        data = limit(load_beir(corpus, queries, qrels), queries=limit_queries, corpus=limit_corpus)
        report = asyncio.run(evaluate_retrieval(data, modes=modes, collection=collection, k=k))
    except DocentError as exc:
        if os.environ.get("DOCENT_RAISE_ERRORS"):
            raise
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(report.metrics()))
    else:
        typer.echo(report.table())


def _modes(given: list[str] | None) -> list[RetrievalMode]:
    if not given:
        return list(MODES)
    chosen: list[RetrievalMode] = []
    for name in given:
        found = next((m for m in MODES if m == name), None)
        if found is None:
            raise InvalidRequest(f"Expected --mode to be one of {', '.join(MODES)}, got {name!r}.")
        if found not in chosen:
            chosen.append(found)
    return chosen


def summary(report: EvalReport) -> dict[str, Any]:
    """Metrics plus timings, for scripts that record a baseline."""
    return {
        "metrics": report.metrics(),
        "seconds": {r.mode: round(r.seconds, 2) for r in report.results},
        "ingest_seconds": round(report.ingest_seconds, 2),
        "total_seconds": round(report.total_seconds, 2),
        "documents": report.documents,
        "queries": report.queries,
    }
