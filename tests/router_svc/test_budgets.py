"""Budgets through a real router over gRPC, against the fake upstream over HTTP: a request a
hard budget has no room for is refused with RESOURCE_EXHAUSTED / BUDGET_EXCEEDED naming the
budget (before any upstream call); a cheaper model of the chain that fits serves it instead,
as Route says; a team budget counts every key of the team; a stream's reservation stays until
its end and then becomes its real cost; a failed attempt costs nothing; ListBudgets agrees with
the usage records."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import (
    chat_pb2,
    router_admin_service_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
)
from router_svc.budgets import BudgetRule
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

# $1 per thousand prompt tokens, $2 per thousand completion tokens.
PRICES = {"input_price_per_million": 1000.0, "output_price_per_million": 2000.0}
CHEAP = {"input_price_per_million": 10.0, "output_price_per_million": 20.0}
# What the fake upstream reports for each answer: 1 prompt token, 10 completion tokens.
ANSWER = Behavior(prompt_tokens=1, chunks=10)
COST = 1 * 0.001 + 10 * 0.002


def chat(key: str = "k1", team: str = "", **kwargs: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=str(kwargs.pop("model", "auto")),
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")],
        max_tokens=10,
        caller=chat_pb2.Caller(api_key_id=key, team_id=team),
        **kwargs,
    )


def details(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], float | None]:
    """ErrorInfo reason and metadata, RetryInfo delay."""
    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    reason, metadata, delay = "", {}, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return reason, metadata, delay


async def budgets(port: int) -> dict[str, router_admin_service_pb2.BudgetStatus]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        reply = await stub.ListBudgets(router_admin_service_pb2.ListBudgetsRequest(), timeout=5)
    return {b.id: b for b in reply.budgets}


def ledger(metrics: FakeMetrics, **match: str) -> float:
    return sum(
        r.cost_usd
        for r in metrics.records.values()
        if all(getattr(r, k) == v for k, v in match.items())
    )


async def test_a_hard_budget_refuses_what_would_exceed_it_and_names_itself(
    make_router: Any, upstream: FakeUpstream, fake_metrics: tuple[FakeMetrics, Any]
) -> None:
    upstream.set("a", *[ANSWER] * 10)
    rule = BudgetRule("k1-daily", "key", "k1", "day", hard_usd=0.05)
    running, stub = await make_router((model("a", **PRICES),), ("a",), budgets=(rule,))
    served = [await stub.Complete(router_service_pb2.CompleteRequest(chat=chat())) for _ in "12"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    # Each answer costs $0.021 and reserves a bit more ($0.02 for 10 output tokens plus the
    # prompt's estimate): the third would pass $0.05.
    assert len(served) == 2
    assert upstream.calls("a") == 2  # refused before any upstream call
    error = refused.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reason, metadata, delay = details(error)
    assert reason == "BUDGET_EXCEEDED"
    assert metadata["budget"] == "k1-daily"
    assert "budget 'k1-daily'" in (error.details() or "")
    # Retry-After: no later than the end of the UTC day.
    assert delay is not None
    assert 0 < delay <= 86400 - time.time() % 86400 + 1
    # Another key is not bound by k1's budget.
    other = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(key="k2")))
    assert other.model == "a"
    await wait_for(lambda: len(fake_metrics[0].records) == 3)
    standing = (await budgets(running.port))["k1-daily"]
    assert standing.spent_usd == pytest.approx(ledger(fake_metrics[0], api_key_id="k1"))
    assert standing.spent_usd == pytest.approx(2 * COST)
    assert standing.reserved_usd == 0
    assert standing.remaining_usd == pytest.approx(0.05 - 2 * COST)
    assert standing.period_end_time.seconds - standing.period_start_time.seconds == 86400


async def test_a_cheaper_model_of_the_chain_that_fits_serves_and_route_says_why(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("dear", *[ANSWER] * 5)
    upstream.set("cheap", *[ANSWER] * 5)
    rule = BudgetRule("k1-hour", "key", "k1", "rolling:3600", hard_usd=0.01)
    _, stub = await make_router(
        (model("dear", **PRICES), model("cheap", **CHEAP)), ("dear", "cheap"), budgets=(rule,)
    )
    route = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
    assert [c.model for c in route.candidates] == ["cheap"]
    assert "fits the budget" in route.candidates[0].reason
    (skipped,) = route.skipped_models
    assert skipped.model == "dear"
    assert skipped.reason == router_service_pb2.SKIP_REASON_BUDGET
    assert "budget 'k1-hour'" in skipped.detail
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "cheap"
    assert upstream.calls("dear") == 0


async def test_a_team_budget_counts_every_key_of_the_team(
    make_router: Any, upstream: FakeUpstream, fake_metrics: tuple[FakeMetrics, Any]
) -> None:
    upstream.set("a", *[ANSWER] * 10)
    rule = BudgetRule("search", "team", "search", "month", hard_usd=0.09)
    running, stub = await make_router((model("a", **PRICES),), ("a",), budgets=(rule,))
    outcomes = []
    for key in ("alice", "bob", "alice", "bob", "alice"):
        try:
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(key, "search")))
            outcomes.append(key)
        except grpc.aio.AioRpcError as exc:
            outcomes.append(details(exc)[1]["budget"])
    # $0.021 each, reserving a little more: four fit in $0.09 whoever's key, the fifth not.
    assert outcomes == ["alice", "bob", "alice", "bob", "search"]
    # A key of no team, or of another team, is not bound by it.
    await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("alice", "other")))
    await wait_for(lambda: len(fake_metrics[0].records) == 5)
    assert ledger(fake_metrics[0], team_id="search") == pytest.approx(4 * COST)
    standing = (await budgets(running.port))["search"]
    assert standing.spent_usd == pytest.approx(4 * COST)


async def test_a_stream_holds_its_reservation_until_its_end_then_settles_its_cost(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(prompt_tokens=1, chunks=10, chunk_delay_s=0.1))
    rule = BudgetRule("k1-daily", "key", "k1", "day", hard_usd=1.0)
    running, stub = await make_router((model("a", **PRICES),), ("a",), budgets=(rule,))
    call = stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    chunks = call.__aiter__()
    await anext(chunks)  # the stream has begun
    during = (await budgets(running.port))["k1-daily"]
    assert during.spent_usd == 0
    assert during.reserved_usd >= 10 * 0.002  # the output limit at the output price
    async for _ in chunks:
        pass
    await asyncio.sleep(0.05)  # the settle runs after the summary
    after = (await budgets(running.port))["k1-daily"]
    assert after.reserved_usd == 0
    assert after.spent_usd == pytest.approx(COST)


async def test_a_failed_attempt_costs_nothing_and_releases_its_reservation(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=500), Behavior(status=500), ANSWER)
    upstream.set("b", ANSWER)
    rule = BudgetRule("k1-daily", "key", "k1", "day", hard_usd=1.0)
    running, stub = await make_router(
        (model("a", **PRICES), model("b", **PRICES)), ("a", "b"), budgets=(rule,)
    )
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model in ("a", "b")
    await asyncio.sleep(0.05)
    standing = (await budgets(running.port))["k1-daily"]
    assert standing.reserved_usd == 0
    assert math.isclose(standing.spent_usd, COST)


async def test_a_streams_continuation_is_reserved_and_settled_too(
    make_router: Any, upstream: FakeUpstream, fake_metrics: tuple[FakeMetrics, Any]
) -> None:
    words = " ".join(f"w{i:02d}" for i in range(20))
    upstream.set("a", Behavior(chunks=20, text=words, cut_after=8))  # breaks mid-answer
    upstream.set("b", Behavior(chunks=20, text=words))  # continues it
    rule = BudgetRule("k1-daily", "key", "k1", "day", hard_usd=10.0)
    running, stub = await make_router(
        (model("a", **PRICES), model("b", provider="anth", continuation=True, **PRICES)),
        ("a", "b"),
        budgets=(rule,),
        retry=RetryConfig(attempts_per_model=1, stream_idle_timeout_s=0.5),
    )
    request = chat()
    request.ClearField("max_tokens")
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=request))
    ]
    attempts = [(a.model, a.status) for a in chunks[-1].summary.attempts]
    assert attempts == [
        ("a", chat_pb2.ATTEMPT_STATUS_FAILED),
        ("b", chat_pb2.ATTEMPT_STATUS_SUCCEEDED),
    ]
    await wait_for(lambda: len(fake_metrics[0].records) == 2)
    await asyncio.sleep(0.05)
    standing = (await budgets(running.port))["k1-daily"]
    assert standing.reserved_usd == 0
    # Both attempts' costs, the continuation's included.
    assert standing.spent_usd == pytest.approx(ledger(fake_metrics[0], api_key_id="k1"))
    assert all(r.cost_usd > 0 for r in fake_metrics[0].records.values())
