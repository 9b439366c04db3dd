"""``python -m bench serving --quick`` runs end to end (a smoke test: no timing asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.serving import stall_between
from tests.bench.test_bench import _bench


@pytest.mark.timeout(600)
def test_serving_quick_measures_every_row_through_the_real_server(tmp_path: Path) -> None:
    results = _bench(tmp_path, "serving", "--quick")["results"]
    added = next(v for k, v in results.items() if "time Docent adds" in k)
    assert "the stand-in alone" in added
    load = next(v for k, v in results.items() if "concurrent streamed queries" in k)
    assert load.startswith("0 ·")  # no error other than an explicit busy
    stall = next(v for k, v in results.items() if "event-loop stall" in k)
    assert "nan" not in stall  # the server exposes its loop lag
    memory = next(v for k, v in results.items() if "peak RSS" in k)
    assert all(float(mb) > 0 for mb in memory.removesuffix(" MB").split(" · "))


def _metrics(max_lag: float, counts: dict[str, int]) -> str:
    lines = [f"docent_event_loop_lag_max_seconds {max_lag}"]
    lines += [f'docent_event_loop_lag_seconds_bucket{{le="{b}"}} {c}' for b, c in counts.items()]
    return "\n".join(lines)


def test_a_stall_is_exact_when_it_sets_a_new_maximum() -> None:
    before = _metrics(0.02, {"0.01": 5, "0.05": 6, "+Inf": 6})
    after = _metrics(0.3, {"0.01": 9, "0.05": 10, "+Inf": 11})
    assert stall_between(before, after) == pytest.approx(300.0)


def test_otherwise_a_stall_is_bounded_by_the_bucket_holding_every_new_sample() -> None:
    before = _metrics(0.3, {"0.01": 5, "0.05": 6, "+Inf": 7})
    after = _metrics(0.3, {"0.01": 8, "0.05": 10, "+Inf": 11})
    assert stall_between(before, after) == pytest.approx(50.0)
