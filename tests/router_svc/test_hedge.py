"""Hedging through a real router over gRPC, against the fake upstream over HTTP: a slow model
gets the next one started beside it, the first answer wins, the other request is closed, both
are billed. The scenarios run one after another on one router (state carries over)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, wait_for
from .test_failover import ABC, chat

HEDGE_AFTER_S = 0.2
SLOW_S = 2.0
CANCELLED = chat_pb2.ATTEMPT_STATUS_CANCELLED
SUCCEEDED = chat_pb2.ATTEMPT_STATUS_SUCCEEDED
FAILED = chat_pb2.ATTEMPT_STATUS_FAILED


def attempts(reply: Any) -> list[tuple[str, int, str]]:
    return [(a.model, a.status, a.error_type) for a in reply.attempts]


def records_of(metrics: FakeMetrics, request_id: str) -> list[metrics_service_pb2.UsageRecord]:
    found = [r for r in metrics.records.values() if r.request_id == request_id]
    return sorted(found, key=lambda r: r.attempt)


async def complete(stub: Any) -> tuple[Any, float]:
    started = time.monotonic()
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    return reply, time.monotonic() - started


async def test_a_slow_model_is_hedged_the_first_answer_wins_both_are_billed(
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: Any,
    spans: InMemorySpanExporter,
) -> None:
    metrics: FakeMetrics = fake_metrics[0]
    # A budget this scenario series cannot exhaust: this test is about hedging, not the budget.
    retry = RetryConfig(hedge_after_s=HEDGE_AFTER_S, budget_max_tokens=1000.0)
    running, stub = await make_router(
        ABC, ("a", "b", "c"), retry=retry, prometheus_port=free_port()
    )
    a_breaker = running.registry.get("a").breaker

    # 1. a answers after 2 s, b at once: the client has b's answer after ~0.2 s.
    upstream.set("a", Behavior(delay_s=SLOW_S))
    reply, elapsed = await complete(stub)
    assert (reply.model, reply.message.content, reply.fallback) == ("b", "Hello from b.", True)
    assert HEDGE_AFTER_S <= elapsed < 1.0
    assert attempts(reply) == [("a", CANCELLED, "HEDGE_LOST"), ("b", SUCCEEDED, "")]
    await upstream.wait_disconnects(1, within_s=0.5)  # a's request was closed, not waited out
    assert upstream.calls("b") == 1
    await wait_for(lambda: len(records_of(metrics, reply.id)) == 2)
    lost, won = records_of(metrics, reply.id)
    assert (lost.model, lost.status, lost.error_type) == (
        "a",
        metrics_service_pb2.USAGE_STATUS_CANCELLED,
        "HEDGE_LOST",
    )
    # The loser is billed the prompt it was sent (estimate, a's price: 1 USD per million).
    assert lost.prompt_tokens > 0
    assert lost.completion_tokens == 0
    assert lost.cost_usd == pytest.approx(lost.prompt_tokens / 1e6)
    assert (won.model, won.status, won.completion_tokens) == (
        "b",
        metrics_service_pb2.USAGE_STATUS_SUCCEEDED,
        4,
    )
    assert (won.fallback, won.fallback_from) == (True, "a")
    chats = sorted(
        (s for s in spans.get_finished_spans() if s.name.startswith("chat ")),
        key=lambda s: s.start_time or 0,
    )
    assert [
        (s.name, s.attributes.get("error.type"), s.attributes.get("llmrouter.fallback_reason"))
        for s in chats
    ] == [("chat a", "HEDGE_LOST", None), ("chat b", None, "HEDGE")]

    # 2. A stream whose first token is 2 s late: b's stream is relayed, a's closed.
    upstream.set("a", Behavior(first_chunk_delay_s=SLOW_S))
    started = time.monotonic()
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert time.monotonic() - started < 1.0
    assert (chunks[0].start.model, chunks[0].start.fallback) == ("b", True)
    text = "".join(c.delta.content for c in chunks if c.WhichOneof("chunk") == "delta")
    assert text == "Hello from b."
    assert attempts(chunks[-1].summary) == [("a", CANCELLED, "HEDGE_LOST"), ("b", SUCCEEDED, "")]
    await upstream.wait_disconnects(2, within_s=0.5)

    # 3. a answers before the hedge time: no hedge, b is not called.
    upstream.set("a", Behavior(delay_s=0.05))
    reply, _ = await complete(stub)
    assert (reply.model, attempts(reply)) == ("a", [("a", SUCCEEDED, "")])
    assert upstream.calls("b") == 2

    # Losing a hedge is no failure: a is still first in line, its breaker untouched.
    assert a_breaker.consecutive_failures == 0
    assert a_breaker.state.value == "closed"

    # 4. a fails at once (before the hedge time): ordinary failover, no hedge.
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior())
    spans.clear()
    reply, _ = await complete(stub)
    assert reply.model == "b"
    chats = sorted(
        (s for s in spans.get_finished_spans() if s.name.startswith("chat ")),
        key=lambda s: s.start_time or 0,
    )
    assert chats[-1].attributes.get("llmrouter.fallback_reason") == "UPSTREAM_UNAVAILABLE"

    # 5. The hedge fails while a runs: wait for a (late, but the only answer there is).
    upstream.set("a", Behavior(delay_s=0.5))
    upstream.set("b", Behavior(status=503))
    reply, elapsed = await complete(stub)
    assert reply.model == "a"
    assert attempts(reply) == [("a", SUCCEEDED, ""), ("b", FAILED, "UPSTREAM_UNAVAILABLE")]
    assert 0.5 <= elapsed < 1.5
    assert upstream.calls("c") == 0

    # 6. Both fail: failover goes on from b (its retry), then c.
    upstream.set("a", Behavior(status=503, delay_s=0.4))
    upstream.set("b", Behavior(status=503, delay_s=0.3))
    upstream.set("c", Behavior(delay_s=0.3))
    reply, _ = await complete(stub)
    assert reply.model == "c"
    assert attempts(reply) == [
        ("a", FAILED, "UPSTREAM_UNAVAILABLE"),
        ("b", FAILED, "UPSTREAM_UNAVAILABLE"),
        ("b", FAILED, "UPSTREAM_UNAVAILABLE"),
        ("c", SUCCEEDED, ""),
    ]

    # Metrics: the four hedges (steps 1, 2, 5, 6) are fallbacks for reason HEDGE; a's two
    # lost hedges are cancelled attempts, not failures.
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert 'llmrouter_fallbacks_total{reason="HEDGE"} 4.0' in text
    assert (
        'llmrouter_attempts_total{deployment="",model="a",provider="oai",status="cancelled"} 2.0'
        in text
    )


async def test_hedging_off_waits_for_the_slow_model(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router(ABC, ("a", "b"))
    upstream.set("a", Behavior(delay_s=0.8))
    for _ in range(2):
        reply, elapsed = await complete(stub)
        assert (reply.model, attempts(reply)) == ("a", [("a", SUCCEEDED, "")])
        assert elapsed >= 0.8
    assert upstream.calls("b") == 0
    assert upstream.disconnects == 0
