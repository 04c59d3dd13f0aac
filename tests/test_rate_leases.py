"""Quota leases (llmrouter.rate_leases) against real stores: two RateLimiter objects on the
machine's Redis stand for two replicas; the embedded store is one process's."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from llmrouter.config import ConfigError
from llmrouter.rate_counters import RedisCounters
from llmrouter.rate_leases import WINDOW_MARGIN_S
from llmrouter.rate_limits import Charge, Quota, RateLimiter
from llmrouter.shared_state import StateConfig
from tests.test_rate_limits import _redis_up


def _state(backend: str) -> StateConfig:
    return StateConfig(
        backend=backend,
        redis_url="redis://127.0.0.1:6379/0",
        key_prefix=f"llmrouter-test:{uuid.uuid4().hex}:",
    )


def _requests(limit: int) -> Charge:
    return Charge(("key", "team-a"), Quota("requests", limit), 1)


class Clock:
    """Monotonic seconds that tests move (the real one plus an offset)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return asyncio.get_running_loop().time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state() -> StateConfig:
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    return _state("redis")


@pytest.fixture
async def pair(clock: Clock, state: StateConfig) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two replicas on the machine's Redis, leasing 10 % of a limit at a time."""
    one = RateLimiter(state, replicas=2, lease_percent=10, clock=clock)
    two = RateLimiter(state, replicas=2, lease_percent=10, clock=clock)
    yield one, two
    await one.close()
    await two.close()


def _round_trips(limiter: RateLimiter) -> int:
    counters = limiter._shared
    assert isinstance(counters, RedisCounters)
    return counters.round_trips


async def test_leased_replicas_never_admit_more_than_the_limit_and_rarely_ask_redis(
    pair: tuple[RateLimiter, RateLimiter], state: StateConfig
) -> None:
    one, two = pair
    charge = _requests(100)  # a slice of 10
    verdicts = [await (one, two)[i % 2].acquire([charge]) for i in range(150)]
    admitted = sum(v.allowed for v in verdicts)
    # At most the limit; at least the limit less one unspent slice per replica.
    assert 100 - 2 * 10 <= admitted <= 100
    assert not any(v.local for v in verdicts)
    # Most of them were admitted from a lease, without a round trip.
    assert one.leases is not None
    assert two.leases is not None
    assert one.leases.hits + two.leases.hits >= 80
    assert _round_trips(one) + _round_trips(two) <= 150 - 80
    # What Redis counted (requests plus leases) is the whole limit, as another reader sees.
    third = RateLimiter(state)
    standings = await third.standings([charge])
    await third.close()
    assert standings is not None
    assert standings[0].remaining == 0


async def test_a_limit_under_one_slice_is_counted_request_by_request(
    pair: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = pair
    charge = _requests(9)  # 10 % of 9 is under one request: no lease
    verdicts = [await (one, two)[i % 2].acquire([charge]) for i in range(12)]
    assert sum(v.allowed for v in verdicts) == 9
    assert one.leases is not None
    assert one.leases.grants == 0
    # The headers count every request of both replicas.
    remaining = [v.standings[0].remaining for v in verdicts[:9]]
    assert remaining == list(range(8, -1, -1))


async def test_a_lease_is_not_spent_after_its_window_ends(
    pair: tuple[RateLimiter, RateLimiter], clock: Clock
) -> None:
    one, _ = pair
    charge = _requests(1000)
    assert (await one.acquire([charge])).allowed  # counted in Redis with a slice of 100
    trips = _round_trips(one)
    assert (await one.acquire([charge])).allowed
    assert _round_trips(one) == trips  # from the lease
    # The window is 60 s; the current one ends (becomes the previous) within 60 s.
    clock.offset += 60 - WINDOW_MARGIN_S
    assert (await one.acquire([charge])).allowed
    assert _round_trips(one) == trips + 1  # the old lease was dropped: Redis again


async def test_corrections_stay_in_the_lease_up_to_a_slice_then_go_back_to_redis(
    pair: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = pair
    tokens = Charge(("key", "team-a"), Quota("tokens", 10_000), 300)  # a slice of 1,000
    first = await one.acquire([tokens])
    assert first.allowed
    assert first.standings[0].remaining == 10_000 - 300  # the lease is this replica's
    seen = await two.standings([tokens])
    assert seen is not None
    assert seen[0].remaining == 10_000 - 300 - 1000
    # A fresh lease is full: a give-back beyond one slice is for Redis.
    assert one.absorb(tokens, -100) == -100
    assert (await one.acquire([tokens])).allowed  # from the lease: 700 of it left
    # Used 100 of the 300 reserved: the 200 refill the lease, at once, no round trip.
    assert one.absorb(tokens, -200) == 0
    # A larger give-back fills the lease to one slice; the rest goes back to Redis.
    assert one.absorb(tokens, -500) == -400
    await one.adjust(tokens, -400)
    seen = await two.standings([tokens])
    assert seen is not None
    assert seen[0].remaining == 10_000 - 1300 + 400
    # An overdraft beyond the lease is counted in Redis.
    assert one.absorb(tokens, 1500) == 500


async def test_embedded_leases_admit_exactly_the_limit_in_one_process() -> None:
    # The counters' windows are wall-clock minutes: start clear of a minute's edge, so all
    # 120 acquires fall in one window (across an edge, the next window's room is real).
    if (into := time.time() % 60) > 50:
        await asyncio.sleep(60.2 - into)
    limiter = RateLimiter(StateConfig(), lease_percent=10)
    charge = _requests(100)
    verdicts = [await limiter.acquire([charge]) for _ in range(120)]
    # One process spends its own leases: the whole limit, not less.
    assert sum(v.allowed for v in verdicts) == 100
    assert limiter.leases is not None
    assert limiter.leases.hits >= 80
    assert [v.standings[0].remaining for v in verdicts[:100]] == list(range(99, -1, -1))
    await limiter.close()


def test_the_lease_percent_is_checked() -> None:
    with pytest.raises(ConfigError, match="lease_percent"):
        RateLimiter(StateConfig(), lease_percent=101)
