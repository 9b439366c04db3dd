"""The fork server that the reader workers (:mod:`ingest.isolation`) are forked from.

It is a fresh interpreter that imports the readers once (0.4-0.6 s on 2 cores); each
worker is then a cheap fork of it. :func:`start_reader_server` starts it without waiting
for it, so ``docent ingest`` has it ready by the time the store is open and the first
changed file is found, instead of starting it then. This module imports nothing heavy,
so it can be called before the rest of Docent is imported.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext

PRELOAD = ["ingest.reading"]
"""What the fork server imports before it forks the first worker."""


def reader_context() -> ForkServerContext:
    """The multiprocessing context of the reader workers (its server preloads the readers)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_reader_server() -> None:
    """Start the fork server now, in the background (a no-op when it is running)."""
    reader_context()
    forkserver.ensure_running()


def stop_reader_server() -> None:
    """Stop the fork server at once (a no-op when none runs), for a process that is ending.

    Left alone, it notices its parent's exit and then tears its own interpreter down,
    about 0.2 s during which it still holds the standard output and error it inherited:
    a caller reading ``docent ingest``'s output through a pipe waits for that too.
    """
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # the module's one server
    if pid is None:
        return
    # SIGTERM's default action: no teardown. Not reaped here, so that a later
    # start_reader_server() finds it dead and starts a new one.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
