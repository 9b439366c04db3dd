"""What a persisted tantivy index holds, read from its ``meta.json``: segments and deletes.

tantivy keeps a deleted document's terms in its segment's files (term dictionary,
postings, doc store) until that segment is merged away or has no live document left; a
segment with only deleted documents is dropped at the next commit and its files are
removed by the garbage collection that follows. So "which segments hold deletes" is what
the purge (:mod:`retrieval.lexical.purge`) needs: tantivy-py has no merge call, but
rewriting a segment's live documents empties it.

A searcher lists its segments in ``meta.json`` order (``DocAddress.segment_ord`` is the
position in that list); :func:`matches_searcher` checks it before relying on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

META_FILE = "meta.json"


@dataclass(frozen=True)
class Segment:
    """One committed segment: its id, its documents (live and deleted), its deletes."""

    segment_id: str
    max_doc: int
    deleted: int

    @property
    def live(self) -> int:
        return self.max_doc - self.deleted

    @property
    def file_prefix(self) -> str:
        """How its files are named (``<prefix>.term``, ``<prefix>.<opstamp>.del``, ...)."""
        return self.segment_id.replace("-", "")


def has_deletes(segment: Segment) -> bool:
    return segment.deleted > 0


def deleted_on_disk(folder: Path) -> int:
    """Deleted documents whose terms the committed segments in ``folder`` still hold."""
    return sum(segment.deleted for segment in read_segments(folder))


def read_segments(folder: Path) -> list[Segment]:
    """The committed segments of the index in ``folder``, in searcher order (none: [])."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [_segment(entry) for entry in meta.get("segments", [])]


def _segment(entry: Mapping[str, object]) -> Segment:
    deletes = entry.get("deletes")
    deleted = deletes.get("num_deleted_docs", 0) if isinstance(deletes, dict) else 0
    max_doc = entry.get("max_doc", 0)
    return Segment(
        segment_id=str(entry["segment_id"]),
        max_doc=int(max_doc) if isinstance(max_doc, int) else 0,
        deleted=int(deleted),
    )


def matches_searcher(segments: Sequence[Segment], live_per_ord: Mapping[int, int]) -> bool:
    """Whether a searcher's live documents per segment ord are those of ``segments``."""
    expected = {ord_: s.live for ord_, s in enumerate(segments) if s.live}
    return dict(live_per_ord) == expected


def orphan_files(folder: Path, segments: Sequence[Segment]) -> list[Path]:
    """Segment files in ``folder`` that belong to no committed segment (awaiting GC)."""
    prefixes = {s.file_prefix for s in segments}
    return sorted(
        path
        for path in folder.iterdir()
        if not path.name.startswith(".")
        and path.name != META_FILE
        and path.name.split(".", 1)[0] not in prefixes
    )
