"""WritePacing: rows per Chroma call, fixed for bulk writes, bounded in time while serving."""

from __future__ import annotations

import pytest

from retrieval.write_pacing import (
    BULK_ROWS,
    INTERACTIVE_FIRST_ROWS,
    INTERACTIVE_PAUSE_SECONDS,
    WritePacing,
)


def test_bulk_always_writes_its_fixed_size() -> None:
    pacing = WritePacing.bulk()
    pacing.observed(10, 5.0)  # slow calls do not shrink a bulk writer's calls
    assert pacing.rows() == BULK_ROWS
    assert WritePacing.bulk(64).rows() == 64


def test_interactive_starts_small_then_fits_the_target() -> None:
    pacing = WritePacing.interactive(largest=128, target_seconds=0.05)
    assert pacing.rows() == INTERACTIVE_FIRST_ROWS
    pacing.observed(16, 0.016)  # 1 ms a row -> 50 rows fit in 50 ms
    assert pacing.rows() == 50


def test_interactive_stays_within_its_bounds() -> None:
    fast = WritePacing.interactive(largest=128, target_seconds=0.05)
    fast.observed(100, 0.001)  # 10 us a row: 5,000 would fit, 128 is the most
    assert fast.rows() == 128
    slow = WritePacing.interactive(largest=128, target_seconds=0.05)
    slow.observed(4, 2.0)  # half a second a row: never fewer than the smallest
    assert slow.rows() == slow.smallest == 4


def test_the_average_follows_a_slowing_store() -> None:
    pacing = WritePacing.interactive(largest=512, target_seconds=0.05)
    pacing.observed(50, 0.05)  # 1 ms a row
    sizes = []
    for _ in range(12):  # the store becomes 4x slower per row (e.g. another job started)
        pacing.observed(pacing.rows(), pacing.rows() * 0.004)
        sizes.append(pacing.rows())
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] < 50
    assert sizes[-1] == pytest.approx(12, abs=1)  # 50 ms / 4 ms


def test_ignores_empty_or_negative_measurements() -> None:
    pacing = WritePacing.interactive(largest=128)
    pacing.observed(0, 1.0)
    pacing.observed(10, -1.0)
    assert pacing.seconds_per_row is None


@pytest.mark.parametrize(
    "kwargs",
    [{"largest": 0}, {"largest": 8, "smallest": 9}, {"largest": 8, "target_seconds": 0.0}],
)
def test_bad_bounds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Expected"):
        WritePacing(**kwargs)  # type: ignore[arg-type]


def test_an_interactive_writer_steps_aside_before_each_call(monkeypatch) -> None:
    """Embedded Chroma holds the GIL for a whole call: other threads run in the pause."""
    slept: list[float] = []
    monkeypatch.setattr("retrieval.write_pacing.time.sleep", slept.append)
    interactive = WritePacing.interactive(largest=128)
    for _ in range(3):
        interactive.rows()
    assert slept == [INTERACTIVE_PAUSE_SECONDS] * 3
    assert INTERACTIVE_PAUSE_SECONDS > 0
    slept.clear()
    WritePacing.bulk().rows()  # a bulk writer (``docent ingest``) serves nobody: no pause
    assert slept == []
    with pytest.raises(ValueError, match="pause_seconds >= 0"):
        WritePacing(pause_seconds=-1.0)
