"""Locks that serialize writes to the store, across threads and processes of one machine.

Chroma has no compare-and-swap, so writers that touch the same document must take turns.
Every lock here is an ``fcntl.flock`` on a small file in a lock folder. A flock belongs
to one *open file description*, so two threads of one process that each open the file
exclude each other as two processes do: one mechanism covers several uploads in one
server, the CLI and the server, and ``--shard`` processes on one machine.

- ``<lock dir>/<collection>.lock``: shared by every document write of the collection,
  exclusive for whatever creates, replaces or drops the whole collection (create,
  delete, a ``--reindex`` from start to switch). Always taken before a document lock. A
  write that waits longer than ``wait_seconds`` for it gives up with ``Busy``: a
  waiting write holds a thread, and a rebuild can take long.
- ``<lock dir>/<collection>/<doc_id>.lock``: exclusive around one document's write or
  delete.
- ``<embedded Chroma>/docent-writer.lock`` (:class:`WriterClaim`): embedded Chroma is one
  process's store; the first Docent process that writes to it (``docent serve`` claims it
  at start) holds this lock until it exits, and a second writer is refused with a message
  naming the holder (:class:`StoreLocked`).

Writers on different machines share no lock folder: they must partition the documents
(``--shard I/N``). Lock files are never removed (removing a flocked file is racy); there
is one per document ever written, a few bytes each.

All calls block: call them from a thread (the store's methods run in
``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, ClassVar

from retrieval.errors import Busy, StoreLocked

WRITER_LOCK = "docent-writer.lock"
WRITER_INFO = "docent-writer.json"
_POLL_SECONDS = 0.05


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), mode)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _flock_within(path: Path, mode: int, seconds: float, busy: str) -> Iterator[None]:
    """Like :func:`_flock`, but give up with :class:`Busy` after ``seconds``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + seconds
    with path.open("a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Busy(busy) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class StoreLocks:
    """The collection and document locks of one store, in ``folder``.

    Args:
        folder: where the lock files live.
        wait_seconds: how long a document write waits for a collection that is being
            rebuilt or dropped before it gives up with :class:`Busy` (a rebuild can take
            long, and a waiting write holds a thread).
    """

    def __init__(self, folder: Path, wait_seconds: float = 30.0) -> None:
        self.folder = folder
        self.wait_seconds = wait_seconds

    @contextmanager
    def collection(self, name: str, *, exclusive: bool = False) -> Iterator[None]:
        """Hold the collection lock: shared (document writes) or exclusive (drop, switch).

        Raises:
            Busy: a shared lock waited ``wait_seconds`` for an exclusive holder.
        """
        path = self.folder / f"{name}.lock"
        if exclusive:
            with _flock(path, fcntl.LOCK_EX):
                yield
            return
        busy = (
            f"Collection {name!r} is being rebuilt or deleted; its documents cannot be "
            f"written now. Try again when that is done."
        )
        with _flock_within(path, fcntl.LOCK_SH, self.wait_seconds, busy):
            yield

    @contextmanager
    def collection_idle(self, name: str) -> Iterator[None]:
        """Hold the collection lock exclusively, taken at once or not at all.

        Raises:
            Busy: someone writes the collection (or drops or rebuilds it) now.
        """
        busy = f"Collection {name!r} is being written."
        with _flock_within(self.folder / f"{name}.lock", fcntl.LOCK_EX, 0.0, busy):
            yield

    @contextmanager
    def document(self, name: str, doc_id: str, *, shared_held: bool = False) -> Iterator[None]:
        """Hold the collection lock (shared), then the document's lock (exclusive).

        ``shared_held``: the caller holds the collection lock already (several documents).
        """
        with ExitStack() as stack:
            if not shared_held:
                stack.enter_context(self.collection(name))
            stack.enter_context(_flock(self.folder / name / f"{doc_id}.lock", fcntl.LOCK_EX))
            yield


def process_label() -> str:
    """Who claims: the command and its first argument (``docent ingest``)."""
    command = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join([command, *sys.argv[1:2]])


class WriterClaim:
    """This process's exclusive claim on an embedded Chroma folder (held until released).

    Claims are counted per folder within a process, so several stores of one process on
    the same folder share one claim (Chroma shares one client per folder in a process).
    """

    _held: ClassVar[dict[Path, tuple[IO[bytes], int]]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.held = False

    def acquire(self, label: str) -> None:
        """Claim the folder for this process, recording ``label`` (who writes, and where).

        Raises:
            StoreLocked: another process holds the claim; the message names it.
        """
        if self.held:
            return
        with self._guard:
            if self.folder in self._held:
                handle, count = self._held[self.folder]
                self._held[self.folder] = (handle, count + 1)
                self.held = True
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = (self.folder / WRITER_LOCK).open("a+b")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                handle.close()
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise StoreLocked(self._refusal()) from exc
            info = {"pid": os.getpid(), "label": label}
            (self.folder / WRITER_INFO).write_text(json.dumps(info), encoding="utf-8")
            self._held[self.folder] = (handle, 1)
            self.held = True

    def release(self) -> None:
        """Give the claim back (the last holder in this process unlocks the folder)."""
        if not self.held:
            return
        with self._guard:
            handle, count = self._held[self.folder]
            self.held = False
            if count > 1:
                self._held[self.folder] = (handle, count - 1)
                return
            del self._held[self.folder]
            (self.folder / WRITER_INFO).unlink(missing_ok=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def _refusal(self) -> str:
        try:
            info = json.loads((self.folder / WRITER_INFO).read_text(encoding="utf-8"))
            holder = f"{info['label']} (pid {info['pid']})"
        except (OSError, ValueError, KeyError, TypeError):
            holder = "another Docent process"
        return (
            f"Embedded Chroma at {self.folder} is in use by {holder}; embedded Chroma serves "
            "one process. If that is `docent serve`, upload through it (POST "
            "/v1/collections/NAME/documents) or stop it first; otherwise wait for it to "
            "finish. For several writers at once, use a Chroma server (DOCENT_CHROMA_HOST)."
        )
