"""The Python API of ingestion: what the CLI, the HTTP upload endpoint and notebooks call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath

from ingest.pipeline import FileReader, Ingestor, Progress
from ingest.results import IngestReport
from ingest.sources import Shard, SourceFile, discover
from retrieval.embedder import OllamaEmbedder
from retrieval.errors import InvalidRequest
from retrieval.search import follow_writes
from retrieval.settings import Settings, get_settings
from retrieval.store import ChunkStore
from retrieval.types import Embedder

Upload = tuple[str, bytes | Path]
"""An uploaded file: its display name and its bytes (or a saved temporary file)."""


async def ingest_paths(
    paths: Sequence[str | Path],
    *,
    collection: str = "default",
    glob: str | None = None,
    sync: bool = False,
    reindex: bool = False,
    dry_run: bool = False,
    shard: Shard | str | None = None,
    workers: int | None = None,
    settings: Settings | None = None,
    store: ChunkStore | None = None,
    embedder: Embedder | None = None,
    reader: FileReader | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files and folders into ``collection`` (``docent ingest`` in Python).

    Args:
        paths: files and folders; each folder is the root its files' sources are
            relative to.
        collection: target collection (created on first use).
        glob: only files matching this pattern inside folders (e.g. ``"**/*.pdf"``).
        sync: remove documents of these folders whose files are gone.
        reindex: drop the collection and rebuild it from ``paths``.
        dry_run: only report what would be done.
        shard: ``"I/N"`` or a :class:`Shard`: ingest only this share of the files.
        workers: files read in parallel (default: settings).
        settings: defaults to :func:`get_settings`.
        store: the store to use instead of one built from settings.
        embedder: the embedder to use (the caller closes it) instead of Ollama's.
        reader: the file reader to use (the caller closes it) instead of worker
            processes.
        progress: callbacks for a progress display.

    Returns:
        The report; failed files are in it, not raised.

    Raises:
        InvalidRequest: a path does not exist, a bad shard, or reindex with a shard.
        EmbeddingModelMismatch, OllamaUnavailable, OllamaModelMissing, ChromaUnavailable.
    """
    settings = settings or get_settings()
    if workers is not None:
        settings = settings.model_copy(
            update={"ingest": settings.ingest.model_copy(update={"workers": workers})}
        )
    if isinstance(shard, str):
        shard = Shard.parse(shard)
    if reindex and shard is not None:
        raise InvalidRequest(
            "--reindex drops the whole collection, so it cannot run per shard: run one "
            "unsharded --reindex first (or delete the collection), then the shards."
        )
    discovery = discover([Path(p) for p in paths], glob, shard)
    store = store or ChunkStore.from_settings(settings.chroma)
    follow_writes(settings, store)  # the change log, and the lexical index (embedded Chroma)
    ollama_embedder = OllamaEmbedder(settings.ollama) if embedder is None else None
    chosen: Embedder = embedder if embedder is not None else ollama_embedder  # type: ignore[assignment]
    ingestor = Ingestor(store, chosen, settings, reader=reader)
    try:
        return await ingestor.ingest(
            discovery,
            collection=collection,
            sync=sync,
            reindex=reindex,
            dry_run=dry_run,
            shard=shard,
            progress=progress,
        )
    finally:
        if reader is None:
            ingestor.close()
        if ollama_embedder is not None:
            await ollama_embedder.aclose()


def upload_files(uploads: Sequence[Upload]) -> list[SourceFile]:
    """Turn uploads into sources named by their file name (directories are dropped).

    Raises:
        InvalidRequest: an empty name or two uploads with the same name.
    """
    files: list[SourceFile] = []
    seen: set[str] = set()
    for display_name, content in uploads:
        name = PurePath(display_name.replace("\\", "/")).name
        if not name or name in (".", ".."):
            raise InvalidRequest(f"Expected a file name for each upload, got {display_name!r}.")
        if name in seen:
            raise InvalidRequest(f"Expected distinct file names, got {name!r} twice.")
        seen.add(name)
        if isinstance(content, Path):
            files.append(SourceFile(source=name, path=content))
        else:
            files.append(SourceFile(source=name, data=bytes(content)))
    return files


async def ingest_uploads(
    ingestor: Ingestor, uploads: Sequence[Upload], *, collection: str = "default"
) -> IngestReport:
    """Ingest uploaded files (in memory or saved) with a long-lived :class:`Ingestor`.

    Re-uploading an unchanged file is ``unchanged`` (no embedding); a changed one
    replaces the document of the same name. Per-file results carry the same reason
    codes as the CLI's.
    """
    return await ingestor.ingest(upload_files(uploads), collection=collection)
