"""The budget counters on both backends (in-process, and the machine's Redis with the Lua
scripts): reservations are all-or-none across rules, a crashed replica's reservation stops
counting at its deadline, settling moves a reservation to spending, reconciliation replaces
spending before the cutoff by the ledger's total and keeps what came after, and calendar
periods start afresh."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from router_svc.budgets.counters import Counters, Line, MemoryCounters, RedisCounters
from router_svc.budgets.periods import parse_period

NOW_MS = 1_800_000_000_000


def line(name: str, hard: int, amount: int, tag: str = "p1", bucket: int = 100) -> Line:
    return Line(f"budget:{name}:", tag, 0, bucket, bucket - 15, 86_400_000, hard, amount)


@pytest.fixture(params=["embedded", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "embedded":
        yield MemoryCounters()
        return
    client = redis_asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"llmrouter-test:{uuid.uuid4().hex}:"
    yield RedisCounters(client, prefix, 5.0, 60_000)
    await client.aclose()


async def test_a_reservation_is_all_or_none_across_rules(counters: Counters) -> None:
    key, team = line("key", 100, 60), line("team", 1000, 60)
    assert (await counters.reserve([key, team], "r1", NOW_MS, NOW_MS + 10_000, False))[0] == -1
    refused, pairs = await counters.reserve([team, key], "r2", NOW_MS, NOW_MS + 10_000, False)
    assert refused == 1  # the key's rule: 60 reserved + 60 > 100
    assert pairs == [(0, 60), (0, 60)]
    # Nothing of r2 was kept on the team's rule.
    assert (await counters.reserve([team], "", NOW_MS, 0, True))[1] == [(0, 60)]


async def test_a_crashed_replicas_reservation_expires_at_its_deadline(counters: Counters) -> None:
    rule = line("key", 100, 80)
    await counters.reserve([rule], "crashed", NOW_MS, NOW_MS + 500, False)  # never settled
    assert (await counters.reserve([rule], "r2", NOW_MS + 499, NOW_MS + 9999, False))[0] == 0
    refused, pairs = await counters.reserve([rule], "r3", NOW_MS + 500, NOW_MS + 9999, False)
    assert refused == -1
    assert pairs == [(0, 0)]  # the crashed reservation no longer counts


async def test_settling_turns_the_reservation_into_the_real_cost(counters: Counters) -> None:
    rule = line("key", 100, 80)
    await counters.reserve([rule], "r1", NOW_MS, NOW_MS + 10_000, False)
    assert await counters.settle([rule], "r1", 30) == [30]
    assert await counters.settle([rule], "r1", 0) == [30]  # a second settle changes nothing
    assert (await counters.reserve([rule], "", NOW_MS, 0, True))[1] == [(30, 0)]
    # Room for 70 more, not 71.
    assert (await counters.reserve([line("key", 100, 71)], "x", NOW_MS, NOW_MS + 1, False))[0] == 0
    assert (await counters.reserve([line("key", 100, 70)], "y", NOW_MS, NOW_MS + 1, False))[0] == -1


async def test_reconciliation_replaces_spending_before_the_cutoff(counters: Counters) -> None:
    early, late = line("key", 10_000, 0, bucket=90), line("key", 10_000, 0, bucket=100)
    await counters.settle([early], "a", 40)
    await counters.settle([late], "b", 7)
    # The ledger says 55 up to bucket 95: the 40 before becomes 55, the 7 after stays.
    assert await counters.reconcile(late, 55, 95, False) == 62
    assert await counters.reconcile(late, 55, 95, False) == 62  # idempotent


async def test_a_new_calendar_period_starts_from_nothing(counters: Counters) -> None:
    await counters.settle([line("key", 100, 0, tag="p1")], "a", 90)
    refused, pairs = await counters.reserve(
        [line("key", 100, 50, tag="p2")], "b", NOW_MS, NOW_MS + 1000, False
    )
    assert refused == -1
    assert pairs == [(0, 0)]


def test_periods_are_calendar_utc_or_rolling() -> None:
    at = 1_767_787_200.0  # Wed 2026-01-07 12:00:00 UTC
    assert parse_period("day").bounds(at) == (1_767_744_000.0, 1_767_830_400.0)
    assert parse_period("week").bounds(at) == (1_767_571_200.0, 1_768_176_000.0)  # Mon 5th
    assert parse_period("month").bounds(at) == (1_767_225_600.0, 1_769_904_000.0)
    rolling = parse_period("rolling:3600")
    assert rolling.step_s == 60
    assert rolling.bounds(at) == (at - 3600, at)
    assert rolling.retry_after(at) is None
    assert parse_period("day").retry_after(at) == 43_200
