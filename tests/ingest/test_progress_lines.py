"""Plain progress lines: one per finished file, written together, none lost at the end."""

from __future__ import annotations

import asyncio
import io

from ingest.progress import LINE_DELAY_SECONDS, LineProgress, progress_display
from ingest.results import FileResult


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def result(n: int) -> FileResult:
    return FileResult(f"doc-{n}.txt", "unchanged", 3)


def test_outside_an_event_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    lines = LineProgress(stream)

    lines.file_done(result(1))
    assert stream.getvalue() == "unchanged doc-1.txt (3 chunks)\n"
    lines.file_done(result(2))
    assert stream.getvalue().splitlines()[1] == "unchanged doc-2.txt (3 chunks)"


def test_in_an_event_loop_lines_are_written_together_soon_after() -> None:
    stream = CountingStream()
    lines = LineProgress(stream)

    async def finish_files() -> tuple[str, str]:
        for n in range(100):
            lines.file_done(result(n))
        before = stream.getvalue()
        await asyncio.sleep(LINE_DELAY_SECONDS * 4)
        return before, stream.getvalue()

    before, after = asyncio.run(finish_files())

    assert before == ""
    assert after.splitlines() == [f"unchanged doc-{n}.txt (3 chunks)" for n in range(100)]
    assert stream.writes == 1


def test_lines_still_waiting_when_the_run_ends_are_written() -> None:
    stream = CountingStream()

    async def finish_files(lines: LineProgress) -> None:
        lines.file_done(result(1))
        lines.file_done(result(2))  # the loop ends before the delay is over

    with progress_display(stream) as progress:
        assert isinstance(progress, LineProgress)
        asyncio.run(finish_files(progress))
        assert stream.getvalue() == ""

    assert stream.getvalue().splitlines() == [
        "unchanged doc-1.txt (3 chunks)",
        "unchanged doc-2.txt (3 chunks)",
    ]
