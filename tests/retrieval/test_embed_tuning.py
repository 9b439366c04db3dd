"""ThroughputTuner against simulated servers (a fake clock), and its memory."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from retrieval.embed_tuning import Bounds, Measured, Plan, ThroughputTuner, TuningMemory

START = Plan(batch_tokens=1024, max_inputs=2048, concurrency=1)
BOUNDS = Bounds(min_tokens=256, max_tokens=65_536, max_concurrency=4, max_request_seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(
    tuner: ThroughputTuner,
    clock: Clock,
    seconds_for: Callable[[Plan], float],
    requests: int = 400,
) -> None:
    """Send ``requests`` full-size requests in rounds of ``concurrency`` parallel ones.

    ``seconds_for(plan)`` is how long one round takes on the simulated server.
    """
    sent = 0
    while sent < requests:
        plan = tuner.plan
        for _ in range(plan.concurrency):
            tuner.request_started()
        clock.now += seconds_for(plan)
        for _ in range(plan.concurrency):
            tuner.request_finished(plan.batch_tokens, seconds_for(plan))
        sent += plan.concurrency


def serial_server(
    overhead: float, tokens_per_second: float, best_at: int
) -> Callable[[Plan], float]:
    """A server with a fixed cost per request that slows down past ``best_at`` tokens."""

    def seconds(plan: Plan) -> float:
        tokens = plan.batch_tokens
        slowdown = 1.0 if tokens <= best_at else tokens / best_at
        one = overhead + tokens / tokens_per_second * slowdown
        return one * plan.concurrency  # serial: parallel requests queue up

    return seconds


@pytest.mark.parametrize("best_at", [4096, 16_384])
def test_grows_the_request_to_the_servers_best_size_and_settles(best_at):
    clock = Clock()
    tuner = ThroughputTuner(START, BOUNDS, clock=clock)
    drive(tuner, clock, serial_server(overhead=1.0, tokens_per_second=2000, best_at=best_at))
    assert tuner.phase == "settled"
    assert tuner.plan.batch_tokens == best_at
    assert tuner.plan.concurrency == 1  # a serial server gains nothing from more in flight


def test_shrinks_a_start_that_is_too_large():
    clock = Clock()
    start = Plan(batch_tokens=32_768, max_inputs=2048, concurrency=1)
    tuner = ThroughputTuner(start, BOUNDS, clock=clock)
    drive(tuner, clock, serial_server(overhead=0.01, tokens_per_second=5000, best_at=4096))
    assert tuner.plan.batch_tokens == 4096


def test_adds_requests_in_flight_when_the_server_has_parallel_slots():
    clock = Clock()
    tuner = ThroughputTuner(START, BOUNDS, clock=clock)

    def two_slots(plan: Plan) -> float:
        one = 0.1 + plan.batch_tokens / 2000 * (1 if plan.batch_tokens <= 2048 else 2)
        return one * max(1.0, plan.concurrency / 2)

    drive(tuner, clock, two_slots)
    assert tuner.plan.batch_tokens == 2048
    assert tuner.plan.concurrency == 2


def test_stays_within_bounds_even_if_bigger_keeps_winning():
    clock = Clock()
    bounds = Bounds(min_tokens=256, max_tokens=8192, max_concurrency=2, max_request_seconds=30)
    tuner = ThroughputTuner(START, bounds, clock=clock)
    drive(tuner, clock, lambda plan: 1.0 * plan.concurrency)  # pure per-request overhead
    assert tuner.plan.batch_tokens == 8192
    assert tuner.plan.concurrency <= 2


def test_a_slow_request_stops_the_growth():
    clock = Clock()
    bounds = Bounds(min_tokens=256, max_tokens=65_536, max_concurrency=1, max_request_seconds=2)
    tuner = ThroughputTuner(START, bounds, clock=clock)
    # bigger is always faster per token, but a request over 2 s is too slow to keep
    drive(tuner, clock, lambda plan: 0.5 + plan.batch_tokens / 4000)
    assert tuner.plan.batch_tokens <= 4096


def test_a_failure_halves_the_budget_and_settles():
    tuner = ThroughputTuner(Plan(8192, 2048, 3), BOUNDS)
    tuner.request_started()
    tuner.request_failed()
    assert tuner.plan == Plan(4096, 2048, 2)
    assert tuner.phase == "settled"


def test_a_fixed_plan_never_changes():
    clock = Clock()
    fixed = Plan(batch_tokens=10**9, max_inputs=32, concurrency=2)
    tuner = ThroughputTuner(fixed, BOUNDS, adaptive=False, clock=clock)
    drive(tuner, clock, serial_server(overhead=0.5, tokens_per_second=1000, best_at=10**6))
    tuner.request_started()
    tuner.request_failed()
    assert tuner.plan == fixed


def test_the_best_plan_is_remembered_and_starts_the_next_run(tmp_path):
    memory = TuningMemory(tmp_path / "tuning.json")
    clock = Clock()
    first = ThroughputTuner(START, BOUNDS, memory=memory, key="http://h:1 m", clock=clock)
    drive(first, clock, serial_server(overhead=1.0, tokens_per_second=2000, best_at=8192))
    assert first.plan.batch_tokens == 8192
    saved = json.loads((tmp_path / "tuning.json").read_text())
    assert saved["http://h:1 m"]["batch_tokens"] == 8192

    second = ThroughputTuner(START, BOUNDS, memory=memory, key="http://h:1 m")
    assert second.plan.batch_tokens == 8192
    other = ThroughputTuner(START, BOUNDS, memory=memory, key="http://h:1 other-model")
    assert other.plan == START


def test_a_remembered_plan_is_clamped_to_the_bounds_and_bad_files_are_ignored(tmp_path):
    path = tmp_path / "tuning.json"
    memory = TuningMemory(path)
    memory.remember("k", Measured(Plan(10**7, 10**6, 99), 1.0))
    tuner = ThroughputTuner(START, BOUNDS, memory=memory, key="k")
    assert tuner.plan == Plan(BOUNDS.max_tokens, BOUNDS.max_inputs, BOUNDS.max_concurrency)

    path.write_text("{not json")
    assert ThroughputTuner(START, BOUNDS, memory=memory, key="k").plan == START
    path.write_text(json.dumps({"k": {"batch_tokens": "x"}}))
    assert ThroughputTuner(START, BOUNDS, memory=memory, key="k").plan == START
