"""router.supervise: a crashing background loop is logged, counted and restarted; shutdown stops it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from router.supervise import LoopCounters, supervise


async def test_a_loop_that_raises_twice_is_restarted_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    counters = LoopCounters()
    runs = 0
    running = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"boom {runs}")
        running.set()
        await asyncio.Event().wait()  # then runs until shutdown

    with caplog.at_level(logging.ERROR, logger="tierroute.supervise"):
        task = asyncio.create_task(supervise("flaky", flaky, counters=counters, initial_backoff_s=0.01))
        await asyncio.wait_for(running.wait(), 5)
    assert runs == 3
    assert counters.describe() == {"flaky": {"restarts": 2, "last_error": "RuntimeError: boom 2"}}
    crashes = [r for r in caplog.records if r.name == "tierroute.supervise"]
    assert len(crashes) == 2 and all(r.exc_info and getattr(r, "loop", None) == "flaky" for r in crashes)

    task.cancel()  # shutdown
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counters.loops["flaky"].restarts == 2


async def test_backoff_doubles_and_shutdown_during_backoff_is_clean() -> None:
    counters = LoopCounters()
    starts: list[float] = []
    loop = asyncio.get_running_loop()

    async def always_fails() -> None:
        starts.append(loop.time())
        raise ValueError("bad")

    task = asyncio.create_task(supervise("bad", always_fails, counters=counters, initial_backoff_s=0.02,
                                         max_backoff_s=0.08))
    while len(starts) < 5:
        await asyncio.sleep(0.01)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[1] > gaps[0] * 1.5 and gaps[3] < 0.2  # doubling, capped
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_loop_that_returns_is_not_restarted() -> None:
    counters = LoopCounters()
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1

    await asyncio.wait_for(supervise("once", once, counters=counters), 1)
    assert calls == 1 and counters.loops["once"].restarts == 0
