"""Indexes derived from the store's chunks, kept current by the store's own writes.

The store (:class:`retrieval.store.ChunkStore`) is the source of truth. Anything derived
from its chunks (the lexical index) subscribes to the store and is told of every change,
in proportion to the change, so that nothing rescans a collection on a hot path. A
derived index can always be verified against the store and rebuilt from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from retrieval.types import Chunk


class WriteListener(Protocol):
    """What the store tells its subscribers, after each change has reached Chroma.

    The change log (:mod:`retrieval.lexical.changelog`) is a listener; a
    :class:`DerivedIndex` is a listener that can also be verified and rebuilt.
    """

    def changing(self, collection: str) -> None:
        """A change of the collection's chunks is about to reach Chroma.

        One of the two calls below follows it; what must see the collection as it was
        (before the change) looks now.
        """

    def chunks_written(self, collection: str, chunks: Sequence[Chunk]) -> None:
        """Chunks were upserted (new ids, or replaced ones)."""

    def chunks_deleted(self, collection: str, ids: Sequence[str]) -> None:
        """Chunks were removed (ids that were absent may be among them)."""

    def collection_dropped(self, collection: str) -> None:
        """The collection and everything in it were deleted."""


@runtime_checkable
class DerivedIndex(WriteListener, Protocol):
    """A listener holding something derived from the chunks (the lexical index)."""

    def indexed_ids(self, collection: str) -> set[str]:
        """The chunk ids the index holds for ``collection`` (to verify it against the store)."""
        ...

    def rebuild(self, collection: str, chunks: Iterable[Chunk]) -> None:
        """Replace everything the index holds for ``collection`` by ``chunks`` (repair)."""

    def deleted_on_disk(self, collection: str) -> int:
        """Deleted chunks whose traces (terms, ids) the index's files still hold."""
        ...

    def erase_deleted(self, collection: str) -> bool:
        """Erase every deleted chunk's traces from the index's files now; True when none is left."""
        ...


@dataclass(frozen=True)
class ChangeEntry:
    """One entry of a collection's change log: chunk ids a write touched.

    Entries say *which* chunks changed, not what they became: whoever applies one reads
    those ids' current state from the store, so applying entries is idempotent and their
    order does not matter (see :mod:`retrieval.lexical.changelog`).

    Attributes:
        id: unique entry id (``<at>-<random>``).
        at: when it was written, nanoseconds since the epoch (the writer's clock).
        ids: the chunk ids upserted or deleted.
    """

    id: str
    at: int
    ids: tuple[str, ...]
