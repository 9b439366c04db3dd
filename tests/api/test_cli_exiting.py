"""Ending the ``docent`` process without the interpreter's teardown, and nothing else lost.

Each test runs a small program in its own interpreter, since ``exit_now`` ends the process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_program(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_threads_are_joined_then_exit_handlers_run_and_output_is_flushed(tmp_path: Path) -> None:
    result = run_program(
        """
        import atexit, sys, threading, time
        from pathlib import Path
        from api.cli.exiting import exit_now

        log = Path("log.txt")
        def late_writer():
            time.sleep(0.3)
            with log.open("a") as f:
                f.write("thread\\n")
        def handler():
            with log.open("a") as f:
                f.write("atexit\\n")
        atexit.register(handler)
        threading.Thread(target=late_writer).start()
        sys.stdout.write("buffered, no newline")
        exit_now(3)
        """,
        tmp_path,
    )

    assert result.returncode == 3, result.stderr
    assert result.stdout == "buffered, no newline"
    assert (tmp_path / "log.txt").read_text().splitlines() == ["thread", "atexit"]


def test_the_status_is_the_one_sys_exit_gives(tmp_path: Path) -> None:
    for code, status, stderr in [("None", 0, ""), ("7", 7, ""), ("'bad input'", 1, "bad input\n")]:
        result = run_program(f"from api.cli.exiting import exit_now\nexit_now({code})\n", tmp_path)

        assert (result.returncode, result.stderr) == (status, stderr)


def test_the_readers_fork_server_is_stopped_and_can_start_again(tmp_path: Path) -> None:
    """Stopped, it no longer outlives the command holding the output pipe open."""
    result = run_program(
        """
        import time
        from multiprocessing import forkserver
        from pathlib import Path
        from ingest.reader_server import reader_context, start_reader_server, stop_reader_server

        def forked():
            mark = Path("forked")
            mark.unlink(missing_ok=True)
            worker = reader_context().Process(target=mark.touch)
            worker.start()
            worker.join()
            print("forked" if mark.exists() else "not forked", flush=True)

        if __name__ == "__main__":  # a forked worker imports this program again
            start_reader_server()
            forked()
            pid = forkserver._forkserver._forkserver_pid
            stop_reader_server()
            deadline = time.monotonic() + 10
            state = ""
            while time.monotonic() < deadline and state != "Z":  # this process keeps it
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                time.sleep(0.01)
            print("server state", state, flush=True)
            forked()
        """,
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["forked", "server state Z", "forked"]


def test_a_command_that_started_the_fork_server_exits_with_its_status(tmp_path: Path) -> None:
    result = run_program(
        """
        from api.cli.exiting import exit_now
        from ingest.reader_server import start_reader_server

        start_reader_server()
        print("done")
        exit_now(1)
        """,
        tmp_path,
    )

    assert (result.returncode, result.stdout) == (1, "done\n"), result.stderr
