"""Retrieval quality on a BEIR data set (``docent eval retrieval``, the notebooks).

The corpus is ingested through the real pipeline, then every retrieval mode is scored
on the queries.

It lives in ``ingest`` (not ``retrieval``) because it ingests: imports point
ingest -> retrieval, never back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.results import IngestReport
from ingest.runtime import Runtime
from ingest.sources import SourceFile
from retrieval.evaluation import BeirData, ModeResult, run_mode, source_for
from retrieval.search import MODES
from retrieval.settings import RetrievalMode

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
    runtime: Runtime,
    data: BeirData,
    *,
    modes: Sequence[RetrievalMode] = MODES,
    collection: str = "beir",
    k: int = 10,
) -> EvalReport:
    """Ingest ``data.corpus``, then run and score every query in each mode.

    Unchanged documents are skipped by the pipeline, so reusing a collection is cheap.

    Args:
        runtime: the parts to use (see :func:`ingest.runtime.open_runtime`).
        data: the BEIR data (see :func:`retrieval.evaluation.load_beir` and ``limit``).
        modes: retrieval modes to score.
        collection: the collection to fill or reuse.
        k: cut-off of nDCG, Recall and MRR (Recall@100 is always reported too).

    Raises:
        DocentError: Ollama or Chroma unusable, or a collection built by another model.
    """
    started = time.perf_counter()
    report = EvalReport(documents=len(data.corpus), queries=len(data.queries))
    report.ingest = await runtime.ingestor.ingest(corpus_files(data), collection=collection)
    report.ingest_seconds = time.perf_counter() - started
    if report.ingest.failures:
        logger.warning("event=eval_ingest_failures count=%d", len(report.ingest.failures))
    for mode in modes:
        report.results.append(await run_mode(runtime.searcher, collection, data, mode, k=k))
    report.total_seconds = time.perf_counter() - started
    return report


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
