"""Finding an Ollama host's best embedding rate: request size in tokens, requests in flight.

An embedding server is not equally fast at every request size (the stand-in embeds
short texts about twice as fast in batches of 600 as in batches of 8; a real Ollama on a
GPU also rewards fewer, larger requests), and a fixed count of inputs per request is a
poor proxy for its work, which grows with tokens. So each host gets a
:class:`ThroughputTuner` that sizes requests by **tokens** and hill-climbs:

1. doubles the token budget of a request while the measured rate (tokens per second of
   the host being busy) improves by more than :data:`MIN_GAIN`, and halves it from the
   start if the first doubling did not help (a remembered budget may be too large for
   the server now);
2. then adds one request in flight at a time while that improves the rate (a server
   with parallel slots rewards it; a serial one does not);
3. then settles, and remembers the best plan per host and model
   (:class:`TuningMemory`), so the next run starts there.

Every step stays within :class:`Bounds` (the largest request in tokens and in inputs,
the most requests in flight, the longest acceptable request), which keep memory and
request time bounded; a failed or too-slow request halves the budget at once, so a slow
or failing server is not overrun.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from retrieval.files import replace_json

log = logging.getLogger(__name__)

MIN_GAIN = 0.05
"""A change is kept only if it raises the rate by more than this fraction."""

MIN_WINDOW_REQUESTS = 6
MIN_WINDOW_SECONDS = 0.25
"""A plan is judged on at least this many requests and this much busy time."""

Phase = Literal["grow", "shrink", "widen", "settled"]


@dataclass(frozen=True)
class Plan:
    """How a host is used: at most this many tokens and inputs a request, this many in flight."""

    batch_tokens: int
    max_inputs: int
    concurrency: int


@dataclass(frozen=True)
class Bounds:
    min_tokens: int = 512
    max_tokens: int = 65_536
    max_inputs: int = 2_048
    max_concurrency: int = 4
    max_request_seconds: float = 30.0
    """Requests slower than this stop the growth; twice as slow halves the budget."""


@dataclass(frozen=True)
class Measured:
    plan: Plan
    tokens_per_second: float


class TuningMemory:
    """Best plans found, per host and model, in a small JSON file (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def recall(self, key: str) -> Measured | None:
        entry = self._read().get(key)
        try:
            plan = Plan(
                batch_tokens=int(entry["batch_tokens"]),  # type: ignore[index]
                max_inputs=int(entry["max_inputs"]),  # type: ignore[index]
                concurrency=int(entry["concurrency"]),  # type: ignore[index]
            )
            return Measured(plan, float(entry["tokens_per_second"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return None

    def remember(self, key: str, best: Measured) -> None:
        data = self._read()
        data[key] = {**asdict(best.plan), "tokens_per_second": best.tokens_per_second}
        try:
            replace_json(self.path, data)
        except OSError as exc:  # remembering is an optimisation: never fail a run for it
            log.warning("cannot remember embedding tuning in %s: %s", self.path, exc)


class ThroughputTuner:
    """One host's plan, adjusted from the rate its requests achieve.

    Call :meth:`request_started` / :meth:`request_finished` around every request (they
    also track the time the host is busy, which is what the rate is measured over), and
    :meth:`request_failed` for a failed one.
    """

    def __init__(
        self,
        start: Plan,
        bounds: Bounds,
        *,
        memory: TuningMemory | None = None,
        key: str = "",
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = bounds
        self._clock = clock
        self._memory = memory
        self._key = key
        self.adaptive = adaptive
        remembered = memory.recall(key) if (memory is not None and adaptive) else None
        self.plan = self._clamp(remembered.plan) if remembered else start
        self.phase: Phase = "grow" if adaptive else "settled"
        self.best: Measured | None = None
        self._first_plan = self.plan
        self._in_flight = 0
        self._busy_since = 0.0
        self._reset_window()

    def _clamp(self, plan: Plan) -> Plan:
        b = self.bounds
        return Plan(
            batch_tokens=min(max(plan.batch_tokens, b.min_tokens), b.max_tokens),
            max_inputs=min(max(plan.max_inputs, 1), b.max_inputs),
            concurrency=min(max(plan.concurrency, 1), b.max_concurrency),
        )

    def _reset_window(self) -> None:
        self._tokens = 0
        self._requests = 0
        self._busy = 0.0
        self._slowest = 0.0

    # -- what the embedder reports ---------------------------------------------------------

    def request_started(self) -> None:
        if self._in_flight == 0:
            self._busy_since = self._clock()
        self._in_flight += 1

    def _stopped(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._busy += self._clock() - self._busy_since
            self._busy_since = 0.0

    def request_finished(self, tokens: int, seconds: float) -> None:
        self._stopped()
        if not self.adaptive:
            return
        self._tokens += tokens
        self._requests += 1
        self._slowest = max(self._slowest, seconds)
        if self.phase == "settled" and self.best is not None:
            return
        if self._slowest > 2 * self.bounds.max_request_seconds:
            self._settle(self._halved())
            return
        enough = max(MIN_WINDOW_REQUESTS, 2 * self.plan.concurrency + 1)
        if self._requests < enough:
            return
        busy = self._busy + (self._clock() - self._busy_since if self._in_flight else 0.0)
        if busy >= MIN_WINDOW_SECONDS and (self._in_flight == 0 or self._requests >= 2 * enough):
            self._evaluate(busy)

    def request_failed(self) -> None:
        """A request failed (after which it is retried): halve the budget and stop growing."""
        self._stopped()
        if self.adaptive:
            self._settle(self._halved())

    # -- the climb -------------------------------------------------------------------------

    def _halved(self) -> Plan:
        return self._clamp(
            replace(
                self.plan,
                batch_tokens=self.plan.batch_tokens // 2,
                concurrency=max(1, min(self.plan.concurrency, 2)),
            )
        )

    def _settle(self, plan: Plan) -> None:
        self.plan, self.phase = plan, "settled"
        self._reset_window()

    def _evaluate(self, busy: float) -> None:
        rate = self._tokens / busy
        too_slow = self._slowest > self.bounds.max_request_seconds
        improved = self.best is None or (
            not too_slow and rate > self.best.tokens_per_second * (1 + MIN_GAIN)
        )
        if improved:
            self.best = Measured(self.plan, rate)
            if self._memory is not None:
                self._memory.remember(self._key, self.best)
        log.debug(
            "embed tuning %s: %s -> %.0f tokens/s (%s, best %s)",
            self._key,
            self.plan,
            rate,
            self.phase,
            self.best,
        )
        self._reset_window()
        if self._in_flight:
            self._busy_since = self._clock()
        self.plan = self._next(improved, too_slow)

    def _next(self, improved: bool, too_slow: bool) -> Plan:
        assert self.best is not None
        best, b = self.best.plan, self.bounds
        bigger = replace(
            best,
            batch_tokens=min(best.batch_tokens * 2, b.max_tokens),
            max_inputs=min(best.max_inputs * 2, b.max_inputs),
        )
        smaller = replace(best, batch_tokens=max(best.batch_tokens // 2, b.min_tokens))
        wider = replace(best, concurrency=min(best.concurrency + 1, b.max_concurrency))
        if self.phase == "grow":
            if improved and not too_slow and bigger != best:
                return bigger
            if best == self._first_plan and smaller != best:
                self.phase = "shrink"
                return smaller
            self.phase = "widen"
            if wider != best:
                return wider
        elif self.phase == "shrink":
            if improved and smaller != best:
                return smaller
            self.phase = "widen"
            if wider != best:
                return wider
        elif self.phase == "widen" and improved and wider != best:
            return wider
        self._settle(best)
        return best
