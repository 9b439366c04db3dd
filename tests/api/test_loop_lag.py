"""The event-loop lag monitor: measures how long the loop was held, shown on /metrics."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from api.app import create_app
from api.loop_lag import LoopLagMonitor
from api.services import Services
from tests.api.routes.test_metrics import sample


async def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # noqa: ASYNC251  # on purpose: holds the loop like sync work would


async def test_a_held_loop_is_measured_as_lag() -> None:
    seen: list[float] = []
    monitor = LoopLagMonitor(interval=0.01, observe=seen.append)
    monitor.start()
    await asyncio.sleep(0.05)  # a few quiet samples first
    await _hold_the_loop(0.2)
    await asyncio.sleep(0.05)
    await monitor.stop()
    assert monitor.max_lag >= 0.15  # the 0.2 s hold, less at most one interval
    assert monitor.samples == len(seen) >= 3
    assert max(seen) == monitor.max_lag
    assert min(seen) < monitor.max_lag  # quiet samples are not the hold


async def test_stop_is_idempotent_and_negative_lag_counts_as_zero() -> None:
    monitor = LoopLagMonitor(interval=0.01)
    monitor.record(-0.001)
    assert monitor.last_lag == 0.0
    assert monitor.max_lag == 0.0
    monitor.start()
    await monitor.stop()
    await monitor.stop()


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive lag-monitor interval, got 0"):
        LoopLagMonitor(interval=0)


async def test_the_served_app_exposes_the_longest_lag_on_metrics(services: Services) -> None:
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http,
    ):
        await asyncio.sleep(0.05)
        await _hold_the_loop(0.2)
        await asyncio.sleep(0.05)
        text = (await http.get("/metrics")).text
    assert sample(text, "docent_event_loop_lag_max_seconds") >= 0.15
    assert sample(text, "docent_event_loop_lag_seconds_count") >= 3
    assert services.metrics.loop_lag.samples > 0
