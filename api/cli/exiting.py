"""Ending the ``docent`` process without the interpreter's teardown."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_now(code: object) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, minus the interpreter's teardown.

    Freeing every imported module's objects took about 0.3 s at the end of each command
    (chromadb, numpy, pydantic's schemas), longer than ``docent --help`` runs. What a
    normal exit does that matters still happens, in the same order: threads that are not
    daemons are joined, the ``atexit`` handlers run (logging's flush, multiprocessing's, the
    lexical indexes' close), and standard output and error are flushed. Before the handlers,
    the readers' fork server is stopped (:func:`ingest.reader_server.stop_reader_server`).
    """
    status = _status(code)
    threading._shutdown()  # type: ignore[attr-defined]  # joins threads as an exit does
    reader_server = sys.modules.get("ingest.reader_server")
    if reader_server is not None:  # only a command that reads files starts that server
        reader_server.stop_reader_server()
    atexit._run_exitfuncs()  # what the interpreter runs before its teardown
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or its reader went away
            stream.flush()
    os._exit(status)


def _status(code: object) -> int:
    """The exit status ``sys.exit(code)`` gives (a message is printed to stderr, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
