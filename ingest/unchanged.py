"""An unchanged re-ingest answered from the collection's settled mark, without Chroma.

``docent ingest`` over files that have not changed since the last run would open
embedded Chroma (a second of imports) only to read records it already has on disk. When
the collection's settled mark holds (:mod:`retrieval.settled`) and the scan's digests
show every file unchanged at the version its record has, the run is reported from the
mark and the record cache, under the writer claim (so no other process writes
meanwhile), and Chroma is never opened. Anything else, such as a new, changed or removed
file, a record not cached, or another model, is left to the pipeline, which decides it
the same way from Chroma.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from ingest.chunking import ChunkingPlan, chunk_version, plan_chunking
from ingest.results import FileResult, IngestReport, Progress
from ingest.scan import BackgroundScan
from ingest.sources import SourceFile, path_of
from retrieval.embedder import OllamaEmbedder
from retrieval.locks import WriterClaim, process_label
from retrieval.record_cache import RECORD_CACHE_DIR, RecordCache
from retrieval.records import doc_id_for
from retrieval.settings import Settings
from retrieval.settled import read_mark


async def unchanged_report(
    settings: Settings, collection: str, scan: BackgroundScan, progress: Progress
) -> IngestReport | None:
    """The run's report if every scanned file is unchanged; else None (run the pipeline).

    ``progress`` hears of the files only when the report is returned.

    Raises:
        StoreLocked: another process writes to the folder (as the pipeline would say).
        OllamaUnavailable, OllamaModelMissing: the model's facts cannot be read.
        InvalidRequest: the scan refuses the paths.
    """
    started = time.perf_counter()
    if settings.chroma.is_server:
        return None
    claimed = await asyncio.to_thread(_claim_if_marked, settings, collection)
    if claimed is None:
        return None
    persist_dir, claim = claimed
    try:
        mark = await asyncio.to_thread(read_mark, persist_dir, collection)  # a writer came?
        discovery = await asyncio.to_thread(scan.discovery)
        if mark is None:
            return None
        plan = await _chunking_plan(settings, mark.embed_model)
        if plan is None:
            return None
        results = await asyncio.to_thread(
            _unchanged, persist_dir, collection, mark.key, discovery.files, plan
        )
    finally:
        claim.release()
    if results is None:
        return None
    report = IngestReport()
    progress.started(len(discovery.files))
    for result in [*discovery.skipped, *results]:
        report.results.append(result)
        progress.file_done(result)
    report.results.sort(key=lambda r: (r.status, r.source))
    report.seconds = time.perf_counter() - started
    return report


def _claim_if_marked(settings: Settings, collection: str) -> tuple[Path, WriterClaim] | None:
    """The folder and its claim, taken, if the collection has a settled mark now.

    Raises:
        StoreLocked: another process writes to the folder.
    """
    persist_dir = Path(settings.chroma.path).expanduser()
    if read_mark(persist_dir, collection) is None:  # most runs with changes stop here
        return None
    claim = WriterClaim(persist_dir)
    claim.acquire(process_label())
    return persist_dir, claim


async def _chunking_plan(settings: Settings, built_with: str) -> ChunkingPlan | None:
    """The pipeline's chunking plan (from the model's facts); None for another model."""
    embedder = OllamaEmbedder(settings.ollama)
    try:
        if embedder.model != built_with:
            return None  # the pipeline says how the models differ
        return plan_chunking(settings.chunking, await embedder.info())
    finally:
        await embedder.aclose()


def _unchanged(
    persist_dir: Path,
    collection: str,
    key: str,
    files: Sequence[SourceFile],
    plan: ChunkingPlan,
) -> list[FileResult] | None:
    """Each file reported unchanged, or None if any is not (or its record is not cached).

    Unchanged as the pipeline decides it: a ``done`` record (the cache keeps no other)
    at the version of the scanned content, in a collection known complete (the mark).
    """
    doc_ids = [doc_id_for(f.source) for f in files]
    records, unknown = RecordCache(persist_dir / RECORD_CACHE_DIR).lookup(collection, key, doc_ids)
    if unknown:
        return None
    results: list[FileResult] = []
    for file, doc_id in zip(files, doc_ids, strict=True):
        record = records[doc_id]
        if file.digest is None or record.version != chunk_version(file.digest, plan):
            return None
        results.append(FileResult(file.source, "unchanged", record.chunk_count, path=path_of(file)))
    return results
