"""Per-model retry budgets, timeouts and fallback flags through a real router over gRPC, against
the fake upstream over HTTP; requests follow one another on one router (state carries over)."""

from __future__ import annotations

import time
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import router_service_pb2
from router_svc.config import BreakerConfig, RetryConfig
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for
from .test_failover import chat, retry_delay

NO_BREAKER = BreakerConfig(consecutive_failures=10**6, min_calls=10**6)


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call ("" without one)."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


async def test_budgets_limit_retries_of_each_model_never_first_attempts(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior(status=429, retry_after="0"))
    models = (model("a"), model("b"), model("c"))
    _, stub = await make_router(
        models,
        ("a", "b", "c"),
        retry=RetryConfig(attempts_per_model=3, backoff_base_s=0.001, backoff_max_s=0.001),
        breaker=NO_BREAKER,
    )
    walked = []
    for _ in range(8):
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        assert reply.model == "c"
        walked.append("".join(a.model for a in reply.attempts))
    # a and b fail every call: their budgets (10 tokens, retries while above 5) let the first
    # requests retry them, then only first attempts are made, and c always answers.
    assert walked == ["aaabbbc", "aabbc"] + ["abc"] * 6


async def test_every_model_failing_names_each_one(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set(None, Behavior(status=503))
    _, stub = await make_router(
        (model("a"), model("b")), ("a", "b"), retry=RetryConfig(), breaker=NO_BREAKER
    )
    for _ in range(6):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(info.value) == "ALL_MODELS_FAILED"
    assert info.value.details() == (
        "all 2 attempts failed (a: UPSTREAM_UNAVAILABLE, b: UPSTREAM_UNAVAILABLE, "
        "a: retry budget spent, b: retry budget spent)"
    )
    assert retry_delay(info.value) == 1.0
    assert len(upstream.requests) == 2 * (2 + 2 + 1 + 1 + 1 + 1)


async def test_a_late_first_token_costs_one_wait(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(first_chunk_delay_s=5))
    ttft = 0.4
    _, stub = await make_router(
        (model("a"), model("b")),
        ("a", "b"),
        retry=RetryConfig(attempts_per_model=2, ttft_timeout_s=ttft),
        breaker=NO_BREAKER,
    )
    for _ in range(2):
        began = time.monotonic()
        chunks = [
            c
            async for c in stub.StreamComplete(
                router_service_pb2.StreamCompleteRequest(chat=chat())
            )
        ]
        elapsed = time.monotonic() - began
        assert chunks[0].start.model == "b"
        assert [(a.model, a.error_type) for a in chunks[-1].summary.attempts] == [
            ("a", "UPSTREAM_TIMEOUT"),
            ("b", ""),
        ]
        assert ttft <= elapsed < 2 * ttft


async def test_a_silent_upstream_costs_one_wait(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(stall=True))
    limit = 0.4
    _, stub = await make_router(
        (model("a"), model("b")),
        ("a", "b"),
        retry=RetryConfig(attempts_per_model=2, attempt_timeout_s=limit),
        breaker=NO_BREAKER,
    )
    for _ in range(2):
        began = time.monotonic()
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        assert limit <= time.monotonic() - began < 2 * limit
        assert [(a.model, a.error_type) for a in reply.attempts] == [
            ("a", "UPSTREAM_TIMEOUT"),
            ("b", ""),
        ]
    assert upstream.calls("a") == 2


async def test_a_retry_of_the_fallback_model_is_not_a_fallback(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior(status=503), Behavior())
    running, stub = await make_router(
        (model("a"), model("b")),
        ("a", "b"),
        retry=RetryConfig(attempts_per_model=2, backoff_base_s=0.001, backoff_max_s=0.001),
        breaker=NO_BREAKER,
        prometheus_port=free_port(),
    )
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "b"
    assert reply.fallback  # the answer came from a fallback
    assert [a.model for a in reply.attempts] == ["a", "a", "b", "b"]
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 4)
    records = sorted(metrics.records.values(), key=lambda r: r.attempt)
    # One change of model, one fallback: fallback_from never names the attempt's own model.
    assert [(r.model, r.fallback, r.fallback_from) for r in records] == [
        ("a", False, ""),
        ("a", False, ""),
        ("b", True, "a"),
        ("b", False, ""),
    ]
    # A stream served by the first choice after a retry is not a fallback either.
    upstream.set("a", Behavior(status=503), Behavior())
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert (chunks[0].start.model, chunks[0].start.fallback) == ("a", False)
    assert not chunks[-1].summary.fallback
    await wait_for(lambda: len(metrics.records) == 6)
    assert not any(r.fallback for r in metrics.records.values() if r.model == "a")
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert 'llmrouter_fallbacks_total{reason="UPSTREAM_UNAVAILABLE"} 1.0' in text
    assert 'llmrouter_retries_total{reason="UPSTREAM_UNAVAILABLE"} 3.0' in text
