"""The read-ahead budget of the ingest stages: bounded in chunks, never deadlocked."""

from __future__ import annotations

import asyncio

from ingest.stages import ChunkBudget


async def test_the_budget_holds_back_chunks_over_the_limit_until_released() -> None:
    budget = ChunkBudget(10)
    await budget.acquire(6)
    waiting = asyncio.ensure_future(budget.acquire(6))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # 6 + 6 > 10
    await budget.release(6)
    await asyncio.wait_for(waiting, 1)
    assert budget.held == 6


async def test_a_document_larger_than_the_budget_passes_alone() -> None:
    budget = ChunkBudget(10)
    await asyncio.wait_for(budget.acquire(50), 1)
    assert budget.held == 50
    second = asyncio.ensure_future(budget.acquire(1))
    await asyncio.sleep(0.05)
    assert not second.done()
    await budget.release(50)
    await asyncio.wait_for(second, 1)
