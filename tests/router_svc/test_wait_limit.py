"""WaitLimit (router_svc.waits): each wait of a stream within its own limit, on one
timer, with asyncio.timeout's semantics."""

from __future__ import annotations

import asyncio

import pytest

from router_svc.waits import WaitLimit


async def test_a_wait_past_its_limit_raises_timeout_error() -> None:
    limit = WaitLimit()
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError), limit.within(0.05):
        await asyncio.sleep(5)
    assert asyncio.get_running_loop().time() - started < 1
    limit.close()


async def test_each_wait_has_its_own_limit() -> None:
    # Eight waits of 50 ms within limits of 300 ms each: 400 ms in all, never timed out.
    limit = WaitLimit()
    for _ in range(8):
        with limit.within(0.3):
            await asyncio.sleep(0.05)
    # Then a shorter limit than the timer was set for still holds.
    with pytest.raises(TimeoutError), limit.within(0.02):
        await asyncio.sleep(1)
    limit.close()


async def test_time_between_waits_does_not_count() -> None:
    limit = WaitLimit()
    with limit.within(0.1):
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)  # past the first limit, outside any wait
    with limit.within(0.3):
        await asyncio.sleep(0.01)
    limit.close()


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    limit = WaitLimit()

    async def wait() -> None:
        with limit.within(10):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(wait())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    limit.close()


async def test_waits_may_come_from_different_tasks() -> None:
    limit = WaitLimit()

    async def wait(seconds: float) -> None:
        with limit.within(0.3):
            await asyncio.sleep(seconds)

    await asyncio.ensure_future(wait(0.01))
    with pytest.raises(TimeoutError):
        await asyncio.ensure_future(wait(1))
    limit.close()
