"""Budget leases on the machine's Redis (router_svc.budgets.leases): two replicas spending one
large budget concurrently never pass its hard limit, leave at most a slice each unused, take
most attempts from their leases (no round trip) and, once drained, agree with the store; a
closed replica gives its lease back and a crashed one's lease stops counting at its deadline;
small budgets lease nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from llmrouter.shared_state import StateConfig
from router_svc.breaker import CircuitBreaker
from router_svc.budgets import BudgetRule, Budgets, ConfigRules
from router_svc.budgets.counters import RedisCounters, nano
from router_svc.budgets.enforcer import Hold, Refusal
from router_svc.chat import ChatRequest, Message
from router_svc.config import ModelConfig
from router_svc.policies import BreakerPolicy
from router_svc.registry import ModelEntry

# 1000 prompt tokens and 1000 output tokens at 1 USD per million each: 0.002 USD per attempt.
ENTRY = ModelEntry(
    ModelConfig(name="m", provider="p"),
    provider=None,  # type: ignore[arg-type]  # prices only
    input_price_per_million=1.0,
    output_price_per_million=1.0,
    enabled=True,
    breaker=CircuitBreaker(BreakerPolicy()),
)
REQUEST = ChatRequest(model="m", messages=(Message("user", "hi"),), max_tokens=1000, api_key_id="k")
COST = 0.002


def replicas(hard_usd: float, n: int, ttl_s: float = 900.0) -> list[Budgets]:
    state = StateConfig(
        backend="redis",
        redis_url="redis://127.0.0.1:6379/0",
        key_prefix=f"llmrouter-test:{uuid.uuid4().hex}:",
        operation_timeout_ms=5000,
    )
    rules = ConfigRules([BudgetRule("b", "key", "k", "day", hard_usd=hard_usd)])
    return [Budgets(rules, state, replicas=n, reservation_ttl_s=ttl_s) for _ in range(n)]


async def spend(budgets: Budgets, admitted: list[int]) -> None:
    while True:
        hold = await budgets.reserve(ENTRY, REQUEST, 1000)
        if isinstance(hold, Refusal):
            return
        assert isinstance(hold, Hold)
        admitted.append(1)
        await asyncio.sleep(0)  # the attempt
        hold.settle(COST)


async def test_two_replicas_never_pass_the_hard_limit_and_agree_with_the_store() -> None:
    hard = 10.0  # 5000 attempts; a slice (1 %) holds 50
    group = replicas(hard, 2)
    try:
        admitted: list[int] = []
        await asyncio.gather(*(spend(b, admitted) for b in group for _ in range(16)))
        for budgets in group:
            await budgets.drain()
        total = len(admitted)
        assert total * nano(COST) <= nano(hard)
        # Unused: at most one slice (50 attempts) per replica.
        assert total >= 5000 - 2 * 50
        hits = sum(b.leases.hits for b in group if b.leases is not None)
        assert hits > total * 0.6  # most attempts took no round trip
        calls = sum(b._shared.round_trips for b in group if isinstance(b._shared, RedisCounters))
        assert calls < total / 4
        (standing,) = await group[0].standings()
        assert standing.spent_usd == pytest.approx(total * COST)
    finally:
        for budgets in group:
            await budgets.close()


async def test_a_closed_replica_gives_its_lease_back() -> None:
    first, second = replicas(100.0, 2)
    try:
        hold = await first.reserve(ENTRY, REQUEST, 1000)
        assert isinstance(hold, Hold)
        (during,) = await second.standings()
        assert during.reserved_usd == pytest.approx(1.0 + COST)  # the slice and the attempt
        hold.settle(COST)
        await first.close()
        (after,) = await second.standings()
        assert after.reserved_usd == 0
        assert after.spent_usd == pytest.approx(COST)
    finally:
        await second.close()


async def test_a_crashed_replicas_lease_stops_counting_at_its_deadline() -> None:
    crashed, alive = replicas(100.0, 2, ttl_s=0.5)
    try:
        assert isinstance(await crashed.reserve(ENTRY, REQUEST, 1000), Hold)  # never settled
        (during,) = await alive.standings()
        assert during.reserved_usd >= 1.0
        await asyncio.sleep(0.6)
        (after,) = await alive.standings()
        assert after.reserved_usd == 0
    finally:
        await alive.close()
        if crashed._redis is not None:
            await crashed._redis.aclose(close_connection_pool=True)


async def test_a_small_budget_leases_nothing_and_is_counted_attempt_by_attempt() -> None:
    (budgets,) = replicas(0.1, 1)  # a slice (0.001 USD) holds less than one attempt
    try:
        hold = await budgets.reserve(ENTRY, REQUEST, 1000)
        assert isinstance(hold, Hold)
        (standing,) = await budgets.standings()
        assert standing.reserved_usd == pytest.approx(COST)
        assert budgets.leases is not None
        assert budgets.leases.grants == 0
        hold.settle(COST)
        await budgets.drain()
        (standing,) = await budgets.standings()
        assert standing.spent_usd == pytest.approx(COST)
        assert standing.reserved_usd == 0
    finally:
        await budgets.close()
