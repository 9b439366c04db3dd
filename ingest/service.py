"""The Python API of ``docent ingest``: ingest files and folders with a built Ingestor.

Uploads have their own module (:mod:`ingest.uploads`). The parts (store, embedder,
:class:`~ingest.pipeline.Ingestor`) are built and closed by the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.pipeline import Ingestor, Progress
from ingest.results import IngestReport
from ingest.sources import Shard, discover
from retrieval.errors import InvalidRequest

if TYPE_CHECKING:
    from ingest.scan import BackgroundScan


def parse_shard(shard: Shard | str | None, *, reindex: bool) -> Shard | None:
    """The shard of a run, refusing ``--reindex`` with a shard.

    Raises:
        InvalidRequest: a bad ``I/N``, or reindex with a shard.
    """
    parsed = Shard.parse(shard) if isinstance(shard, str) else shard
    if reindex and parsed is not None:
        raise InvalidRequest(
            "--reindex rebuilds the whole collection, so it cannot run per shard: run one "
            "unsharded --reindex first (or delete the collection), then the shards."
        )
    return parsed


async def ingest_paths(
    ingestor: Ingestor,
    paths: Sequence[str | Path],
    *,
    collection: str = "default",
    glob: str | None = None,
    sync: bool = False,
    reindex: bool = False,
    dry_run: bool = False,
    shard: Shard | str | None = None,
    progress: Progress | None = None,
    bulk: bool = False,
    scan: BackgroundScan | None = None,
) -> IngestReport:
    """Ingest files and folders into ``collection`` (``docent ingest`` in Python).

    Args:
        ingestor: the pipeline (its store, embedder and reader; the caller closes it).
        paths: files and folders; each folder is the root its files' sources are
            relative to.
        collection: target collection (created on first use).
        glob: only files matching this pattern inside folders (e.g. ``"**/*.pdf"``).
        sync: remove documents of these folders whose files are gone.
        reindex: rebuild the collection from ``paths`` (switched in on success).
        dry_run: only report what would be done.
        shard: ``"I/N"`` or a :class:`Shard`: ingest only this share of the files.
        progress: callbacks for a progress display.
        bulk: large Chroma writes, for throughput (``docent ingest``); leave it off in a
            process that serves searches meanwhile (see :meth:`Ingestor.ingest`).
        scan: a scan of the same ``paths``, ``glob`` and ``shard`` started earlier
            (:func:`ingest.scan.start_scan`): its files are used instead of walking again.

    Returns:
        The report; failed files are in it, not raised.

    Raises:
        InvalidRequest: a path does not exist, a bad shard, or reindex with a shard.
        EmbeddingModelMismatch, OllamaUnavailable, OllamaModelMissing, ChromaUnavailable,
        StoreLocked.
    """
    chosen = parse_shard(shard, reindex=reindex)
    if scan is not None:
        discovery = await asyncio.to_thread(scan.discovery)
    else:
        discovery = discover([Path(p) for p in paths], glob, chosen)
    return await ingestor.ingest(
        discovery,
        collection=collection,
        sync=sync,
        reindex=reindex,
        dry_run=dry_run,
        shard=chosen,
        progress=progress,
        bulk=bulk,
    )
