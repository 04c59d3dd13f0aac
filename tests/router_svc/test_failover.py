"""Failover through a real router over gRPC, against the fake upstream over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

ONE_TRY = RetryConfig(attempts_per_model=1)


def chat(text: str = "hello", **kwargs: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=str(kwargs.pop("model", "auto")),
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)],
        **kwargs,
    )


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToTimedelta().total_seconds()
    return None


async def drain(source: Any, into: list[Any]) -> None:
    async for item in source:
        into.append(item)


ABC = (model("a"), model("b", "anth"), model("c", "olla"))


async def test_chain_500_then_429_then_200(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    upstream.set("a", Behavior(status=500))
    upstream.set("b", Behavior(status=429, retry_after="1"))
    _, stub = await make_router(ABC, ("a", "b", "c"), retry=ONE_TRY)
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert (reply.model, reply.provider) == ("c", "olla")
    assert reply.message.content == "Hello from c."
    assert reply.fallback
    assert [(a.number, a.model, a.status, a.error_type, a.http_status) for a in reply.attempts] == [
        (1, "a", chat_pb2.ATTEMPT_STATUS_FAILED, "UPSTREAM_UNAVAILABLE", 500),
        (2, "b", chat_pb2.ATTEMPT_STATUS_FAILED, "RATE_LIMITED", 429),
        (3, "c", chat_pb2.ATTEMPT_STATUS_SUCCEEDED, "", 0),
    ]
    # Every attempt is a usage record; the fallback ones say what they fell back from.
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 3)
    records = sorted(metrics.records.values(), key=lambda r: r.attempt)
    assert [(r.model, r.fallback, r.fallback_from) for r in records] == [
        ("a", False, ""),
        ("b", True, "a"),
        ("c", True, "b"),
    ]
    assert records[2].completion_tokens == 4
    assert records[2].cost_usd == pytest.approx((records[2].prompt_tokens * 1.0 + 4 * 2.0) / 1e6)


async def test_retry_same_model_honours_retry_after(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=429, retry_after="0.3"), Behavior())
    _, stub = await make_router(ABC, ("a", "b"))
    started = time.monotonic()
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "a"
    assert [a.model for a in reply.attempts] == ["a", "a"]
    assert reply.attempts[1].backoff.ToTimedelta().total_seconds() >= 0.3
    assert time.monotonic() - started >= 0.3
    assert not reply.fallback


async def test_long_retry_after_fails_over_at_once(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=429, retry_after="120"))
    _, stub = await make_router(ABC, ("a", "b"))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert [a.model for a in reply.attempts] == ["a", "b"]
    assert reply.attempts[1].backoff.ToTimedelta().total_seconds() == 0


async def test_400_is_not_failed_over(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(status=400, error_message="temperature is invalid"))
    _, stub = await make_router(ABC, ("a", "b", "c"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "temperature is invalid" in (info.value.details() or "")
    assert upstream.calls("a") == 1
    assert upstream.calls("b") == upstream.calls("c") == 0


async def test_hanging_provider_respects_the_deadline(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(stall=True))
    _, stub = await make_router(ABC, ("a", "b"))
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()), timeout=2.0)
    elapsed = time.monotonic() - started
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 2.1
    await asyncio.sleep(0.3)  # nothing starts after the deadline
    assert upstream.calls("a") == 1
    assert upstream.calls("b") == 0
    await upstream.wait_disconnects(1)


async def test_router_deadline_error_before_grpc_deadline(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set(None, Behavior(stall=True))
    _, stub = await make_router(ABC, ("a", "b"), default_deadline_s=0.5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "deadline exceeded after 1 attempts" in (info.value.details() or "")


async def test_stream_failing_before_first_token_is_served_by_next(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior(chunks=6))
    _, stub = await make_router(ABC, ("a", "b"), retry=ONE_TRY)
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert chunks[0].start.model == "b"
    assert chunks[0].start.attempt_count == 2
    assert chunks[0].start.fallback
    text = "".join(c.delta.content for c in chunks if c.WhichOneof("chunk") == "delta")
    assert text == "Hello from b."
    summary = chunks[-1].summary
    assert [a.model for a in summary.attempts] == ["a", "b"]
    assert summary.usage.completion_tokens == 6


async def test_slow_first_token_fails_over(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(first_chunk_delay_s=5))
    _, stub = await make_router(
        ABC, ("a", "b"), retry=RetryConfig(attempts_per_model=1, ttft_timeout_s=0.3)
    )
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert chunks[0].start.model == "b"
    assert chunks[-1].summary.attempts[0].error_type == "UPSTREAM_TIMEOUT"


async def test_stream_cut_after_k_chunks_ends_with_error(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(chunks=8, cut_after=3))
    # b cannot continue an answer (test_stream_recovery.py: one that can).
    models = (model("a"), model("b", "anth", continuation=False))
    _, stub = await make_router(models, ("a", "b"))
    received: list[Any] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await drain(
            stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat())), received
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "STREAM_INTERRUPTED" in str(rpc_status.from_call(info.value))
    kinds = [c.WhichOneof("chunk") for c in received]
    assert kinds[0] == "start"
    assert "summary" not in kinds
    assert {c.start.model for c in received if c.WhichOneof("chunk") == "start"} == {"a"}
    assert upstream.calls("b") == 0  # no second model mixed into a started stream


async def test_client_cancel_reaches_the_upstream(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(stall=True))
    _, stub = await make_router(ABC, ("a",))
    call = stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    await upstream.wait_requests(1)
    call.cancel()
    await upstream.wait_disconnects(1)


async def test_context_length_error_skips_to_a_larger_window(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set(
        "a",
        Behavior(
            status=400,
            error_code="context_length_exceeded",
            error_message="maximum context length is 4096 tokens",
        ),
    )
    models = (
        model("a", context_window=4096),
        model("b", context_window=4096),
        model("c", context_window=32000),
    )
    _, stub = await make_router(models, ("a", "b", "c"))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert [a.model for a in reply.attempts] == ["a", "c"]


async def test_breaker_opens_and_route_explains(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(status=503))
    _, stub = await make_router(ABC, ("a", "b"), retry=ONE_TRY)
    for _ in range(3):
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        assert reply.model == "b"
    assert upstream.calls("a") == 3
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
    assert [c.model for c in decision.candidates] == ["b"]
    assert decision.skipped_models[0].model == "a"
    assert decision.skipped_models[0].reason == router_service_pb2.SKIP_REASON_BREAKER_OPEN
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert [a.model for a in reply.attempts] == ["b"]
    assert upstream.calls("a") == 3  # open: not called


async def test_all_breakers_open_fails_fast_with_retry_delay(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set(None, Behavior(status=503))
    _, stub = await make_router(ABC, ("a",), retry=ONE_TRY)
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    delay = retry_delay(info.value)
    assert delay is not None
    assert 0 < delay <= 300
    assert upstream.calls("a") == 3


async def test_route_explains_small_context_skip_for_tools(make_router: Any) -> None:
    models = (
        model("tiny", context_window=1024),
        model("notools", tools=False),
        model("big", context_window=200_000),
    )
    _, stub = await make_router(models, ("tiny", "notools", "big"))
    request = chat(
        "describe " * 600,
        tools=[chat_pb2.Tool(name="search", parameters_json='{"type":"object"}')],
    )
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=request))
    assert decision.category == "tools"
    assert [c.model for c in decision.candidates] == ["big"]
    skipped = {s.model: s for s in decision.skipped_models}
    assert skipped["tiny"].reason == router_service_pb2.SKIP_REASON_CONTEXT_WINDOW
    assert "window is 1024" in skipped["tiny"].detail
    assert skipped["notools"].reason == router_service_pb2.SKIP_REASON_MISSING_CAPABILITY
    assert "tools" in skipped["notools"].detail


async def test_preferences_order_by_score(make_router: Any) -> None:
    models = (
        model("pricey", input_price_per_million=10.0, output_price_per_million=30.0, quality=0.9),
        model("cheap", input_price_per_million=0.1, output_price_per_million=0.2, quality=0.4),
    )
    _, stub = await make_router(models, ("pricey", "cheap"))
    cost_first = chat(routing=chat_pb2.RoutingOptions(preferences=chat_pb2.Preferences(cost=1.0)))
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=cost_first))
    assert [c.model for c in decision.candidates] == ["cheap", "pricey"]
    assert decision.candidates[0].score > decision.candidates[1].score
    assert decision.candidates[0].reason.startswith("score")
    quality_first = chat(
        routing=chat_pb2.RoutingOptions(preferences=chat_pb2.Preferences(quality=1.0))
    )
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=quality_first))
    assert [c.model for c in decision.candidates] == ["pricey", "cheap"]


async def test_auth_failure_fails_over_and_counts_against_the_breaker(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=401, error_message="Incorrect API key provided: sk-abc123"))
    running, stub = await make_router(ABC, ("a", "b"))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "b"
    # Not retried on the same model: the same key would be rejected again.
    assert [(a.model, a.error_type) for a in reply.attempts] == [
        ("a", "UPSTREAM_AUTH_FAILED"),
        ("b", ""),
    ]
    assert "sk-abc123" not in reply.attempts[0].error_message
    assert running.registry.get("a").breaker.consecutive_failures == 1


async def test_all_rate_limited_is_resource_exhausted(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=429, retry_after="30"))
    upstream.set("b", Behavior(status=429, retry_after="20"))
    _, stub = await make_router(ABC, ("a", "b"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay(info.value) == 20


async def test_prometheus_metrics(make_router: Any, upstream: FakeUpstream) -> None:
    import httpx

    from tests.conftest import free_port

    upstream.set("a", Behavior(status=503))
    running, stub = await make_router(ABC, ("a", "b"), retry=ONE_TRY, prometheus_port=free_port())
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "b"
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert (
        'llmrouter_attempts_total{deployment="",model="a",provider="oai",status="failed"} 1.0'
        in text
    )
    assert (
        'llmrouter_attempts_total{deployment="",model="b",provider="anth",status="succeeded"} 1.0'
        in text
    )
    assert 'llmrouter_fallbacks_total{reason="UPSTREAM_UNAVAILABLE"} 1.0' in text
    assert (
        'llmrouter_tokens_total{deployment="",kind="completion",model="b",provider="anth"} 4.0'
        in text
    )
    assert 'llmrouter_breaker_state{deployment="",model="a",provider="oai"} 0.0' in text
    assert "llmrouter_outbox_depth" in text
    assert "llmrouter_attempt_duration_seconds_bucket" in text
