"""Shared rate limits against real stores: in-process, the machine's Redis, and a Redis that
goes away. Two RateLimiter objects on one Redis stand for two replicas."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from llmrouter.rate_counters import RedisCounters
from llmrouter.rate_limits import (
    RETRY_STORE_S,
    Charge,
    Quota,
    RateLimiter,
    duration_text,
    standing,
)
from llmrouter.shared_state import StateConfig
from tests.tcp_cut import CuttableProxy

REDIS_PORT = 6379


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=0.5):
            return True
    except OSError:
        return False


def _state(backend: str, port: int = REDIS_PORT, timeout_ms: float = 5000) -> StateConfig:
    # A fresh prefix per test: runs never see each other's counters.
    return StateConfig(
        backend=backend,
        redis_url=f"redis://127.0.0.1:{port}/0",
        key_prefix=f"llmrouter-test:{uuid.uuid4().hex}:",
        connect_timeout_ms=timeout_ms,
        operation_timeout_ms=timeout_ms,
    )


def _requests(limit: int, who: str = "team-a") -> Charge:
    return Charge(("key", who), Quota("requests", limit), 1)


def _tokens(limit: int, cost: int, who: str = "team-a") -> Charge:
    return Charge(("key", who), Quota("tokens", limit), cost)


@pytest.fixture(params=["embedded", "redis"])
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RateLimiter, ...]]:
    """Two replicas' limiters: one shared object when embedded (one process), two clients of
    the same Redis otherwise."""
    if request.param == "redis" and not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    state = _state(request.param)
    first = RateLimiter(state, replicas=2)
    second = first if request.param == "embedded" else RateLimiter(state, replicas=2)
    yield first, second
    await first.close()
    if second is not first:
        await second.close()


async def test_a_limit_of_n_admits_n_in_total_across_replicas(
    replicas: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = replicas
    charge = _requests(7)
    verdicts = await asyncio.gather(*(lim.acquire([charge]) for _ in range(10) for lim in replicas))
    assert sum(v.allowed for v in verdicts) == 7
    refused = [v.refused for v in verdicts if v.refused is not None]
    # Room again once the window shifts: 60 s at most, plus the store's 1 ms resolution.
    assert all(s.remaining == 0 and 0 < s.retry_after_s <= 60.001 for s in refused)
    assert all(0 < s.reset_s <= 120 for s in refused)
    assert not any(v.local for v in verdicts)
    assert (one.fallbacks, two.fallbacks) == (0, 0)
    # Another subject has its own window.
    assert (await two.acquire([_requests(7, "team-b")])).allowed


async def test_tokens_count_their_cost_and_a_request_larger_than_the_quota_never_fits(
    replicas: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = replicas
    assert (await one.acquire([_tokens(1000, 600)])).allowed
    refused = (await two.acquire([_tokens(1000, 500)])).refused
    assert refused is not None
    assert refused.remaining == 400
    assert refused.used == 600
    assert (await two.acquire([_tokens(1000, 400)])).allowed
    too_large = (await one.acquire([_tokens(1000, 1001, "team-c")])).refused
    assert too_large is not None
    assert math.isinf(too_large.retry_after_s)


async def test_a_refused_charge_gives_back_the_ones_counted_before_it(
    replicas: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = replicas
    requests, tokens = _requests(10), _tokens(100, 80)
    assert (await one.acquire([requests, tokens])).allowed
    refused = (await two.acquire([requests, tokens])).refused
    assert refused is not None
    assert refused.charge == tokens
    standings = await one.standings([requests, tokens])
    assert standings is not None
    assert [s.remaining for s in standings] == [9, 20]  # the refused request's 1 came back


async def test_adjust_corrects_an_estimate_both_ways(
    replicas: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = replicas
    estimate = _tokens(1000, 300)
    assert (await one.acquire([estimate])).allowed
    await two.adjust(estimate, 450)  # used 750, not 300: counted past nothing yet
    standings = await one.standings([estimate])
    assert standings is not None
    assert standings[0].remaining == 250
    await one.adjust(estimate, 900)  # even past the limit
    standings = await two.standings([estimate])
    assert standings is not None
    assert standings[0].remaining == 0
    await two.adjust(estimate, -5000)  # a refund never goes below an empty window
    standings = await one.standings([estimate])
    assert standings is not None
    assert standings[0].remaining == 1000


async def test_peek_counts_nothing(replicas: tuple[RateLimiter, RateLimiter]) -> None:
    one, two = replicas
    charge = _requests(1)
    assert await one.peek([charge]) is None
    assert await one.peek([charge]) is None
    assert (await two.acquire([charge])).allowed
    blocked = await one.peek([charge])
    assert blocked is not None
    assert blocked.charge == charge
    assert blocked.retry_after_s > 0


async def test_unreachable_store_falls_back_to_the_replica_share(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    limiter = RateLimiter(_state("redis", port, timeout_ms=200), replicas=3)
    charge = _requests(7)  # a share of 7 // 3 = 2 on each of 3 replicas
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING, logger="llmrouter.rate_limits"):
        verdicts = [await limiter.acquire([charge]) for _ in range(5)]
    assert loop.time() - started < 1.0
    assert [v.allowed for v in verdicts] == [True, True, False, False, False]
    assert all(v.local for v in verdicts)
    assert limiter.fallbacks == 5
    assert limiter.outages == 1
    outage_lines = [r for r in caplog.records if "did not answer" in r.getMessage()]
    assert len(outage_lines) == 1
    assert await limiter.standings([charge]) is not None  # the share's own standing
    await limiter.close()


async def test_the_store_is_used_again_once_it_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    proxy = CuttableProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    now = [0.0]
    state = _state("redis", proxy.port, timeout_ms=300)
    limiter = RateLimiter(state, replicas=2, clock=lambda: now[0])
    other = RateLimiter(state, replicas=2)  # a replica that never loses Redis
    charge = _requests(10)
    try:
        assert (await limiter.acquire([charge])).allowed
        await proxy.cut()
        with caplog.at_level(logging.WARNING, logger="llmrouter.rate_limits"):
            during = [await limiter.acquire([charge]) for _ in range(6)]
            assert [v.allowed for v in during] == [True] * 5 + [False]  # share: 10 // 2
            assert all(v.local for v in during)
            await proxy.restore()
            now[0] += RETRY_STORE_S  # the next request probes the store again
            back = await limiter.acquire([charge])
        assert back.allowed
        assert not back.local
        assert limiter.outages == 1
        assert limiter.fallbacks == 6
        messages = [r.getMessage() for r in caplog.records]
        assert sum("did not answer" in m for m in messages) == 1
        assert sum("answers again" in m for m in messages) == 1
        # What was counted in Redis before and after the outage, and nothing of the share.
        standings = await other.standings([charge])
        assert standings is not None
        assert standings[0].remaining == 8
    finally:
        await proxy.stop()
        await limiter.close()
        await other.close()


async def test_redis_counts_in_limits_own_layout_and_batches_under_load() -> None:
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    import redis.asyncio as redis_asyncio
    from limits import RateLimitItemPerSecond
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

    state = _state("redis")
    limiter = RateLimiter(state)
    charge = _requests(40)
    verdicts = await asyncio.gather(*(limiter.acquire([charge]) for _ in range(30)))
    assert all(v.allowed for v in verdicts)
    counters = limiter._shared
    assert isinstance(counters, RedisCounters)
    assert counters.round_trips < 30  # requests that waited went out together
    # limits' own strategy, on the same keys, sees the 30 and admits exactly 10 more.
    client = redis_asyncio.Redis()
    options: dict[str, object] = {"connection_pool": client.connection_pool}
    storage = RedisStorage(
        "async+redis://127.0.0.1:6379/0",
        implementation="redispy",
        key_prefix=f"{state.key_prefix}ratelimit",
        **options,  # type: ignore[arg-type]
    )
    strategy = SlidingWindowCounterRateLimiter(storage)
    item = RateLimitItemPerSecond(40, 60)  # as the limiter names a 60 s quota
    assert (await strategy.get_window_stats(item, "key", "team-a", "requests")).remaining == 10
    hits = [await strategy.hit(item, "key", "team-a", "requests") for _ in range(12)]
    assert hits.count(True) == 10
    assert not (await limiter.acquire([charge])).allowed
    await client.aclose()
    await limiter.close()


def test_retry_after_is_when_the_cost_fits() -> None:
    minute = Quota("requests", 10)
    one = Charge(("k",), minute, 1)
    # A full current window ending in 20 s: then its 10 weigh floor(10 * t/60) < 10.
    full = standing(one, 10, previous=0, previous_ttl=0, current=10, current_ttl=80)
    assert full.remaining == 0
    assert full.reset_s == 80
    assert full.retry_after_s == pytest.approx(20, abs=0.01)
    # 4 fit after the shift once floor(10 * t/60) <= 6, t < 42: 18 s into the decay.
    four = Charge(("k",), minute, 4)
    later = standing(four, 10, previous=0, previous_ttl=0, current=10, current_ttl=80)
    assert later.retry_after_s == pytest.approx(20 + 18, abs=0.01)
    # The previous window's 10 weigh floor(10 * 36/60) = 6, plus 5 now: 1 fits below 30 s.
    decaying = standing(one, 10, previous=10, previous_ttl=36, current=5, current_ttl=110)
    assert decaying.remaining == 0
    assert decaying.retry_after_s == pytest.approx(6, abs=0.01)
    tokens = standing(_tokens(100, 101), 100, previous=0, previous_ttl=0, current=0, current_ttl=0)
    assert tokens.remaining == 100
    assert math.isinf(tokens.retry_after_s)
    fits = standing(one, 10, previous=0, previous_ttl=0, current=3, current_ttl=100)
    assert fits.remaining == 7
    assert fits.retry_after_s == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0123, "13ms"), (1.0, "1s"), (6.5, "6.5s"), (360.0, "6m0s"), (61.25, "1m1.25s")],
)
def test_durations_are_written_as_openai_does(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
