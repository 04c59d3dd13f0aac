"""Breakers and model statistics shared by two in-process routers over the machine's Redis.

Each router is a real gRPC server with its own registry; they share only a [state] Redis
under a prefix of this test's own. (Three router processes: tests/reliability.)
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from typing import Any

import grpc
import pytest

from llmrouter.shared_state import StateConfig
from llmrouter.v1 import chat_pb2, router_admin_service_pb2_grpc, router_service_pb2
from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from router_svc.breaker import BreakerState
from router_svc.config import BreakerConfig, RetryConfig
from router_svc.model_stats import ModelStats, PeerStats
from router_svc.server import RunningRouter
from tests.fakes import Behavior, FakeUpstream
from tests.test_shared_state import _redis_up

from .conftest import model, wait_for

MODELS = (model("a"), model("b"))
BREAKER = BreakerConfig(consecutive_failures=3, base_ejection_s=30, max_ejection_s=30)
RETRY = RetryConfig(attempts_per_model=1)


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])


def redis_state() -> StateConfig:
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    return StateConfig(backend="redis", key_prefix=f"llmrouter-test:{uuid.uuid4().hex}:")


def state_of(router: RunningRouter, name: str) -> BreakerState:
    entry = router.registry.get(name)
    assert entry is not None
    return entry.breaker.state


async def open_a(make_router: Any, upstream: FakeUpstream, state: StateConfig) -> Any:
    """Two routers sharing ``state``; three failing requests open a's breaker on the first."""
    upstream.set("a", Behavior(status=503))
    first, stub = await make_router(MODELS, ("a", "b"), retry=RETRY, breaker=BREAKER, state=state)
    second, _ = await make_router(MODELS, ("a", "b"), retry=RETRY, breaker=BREAKER, state=state)
    await asyncio.sleep(0.3)  # both subscriptions attached
    for _ in range(3):
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        assert reply.model == "b"
    assert state_of(first, "a") is BreakerState.OPEN
    return first, second


async def test_a_reset_on_one_replica_closes_the_breaker_on_every_replica(
    make_router: Any, upstream: FakeUpstream
) -> None:
    first, second = await open_a(make_router, upstream, redis_state())
    await wait_for(lambda: state_of(second, "a") is BreakerState.OPEN, within=1.0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
        admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        await admin.ResetBreaker(admin_pb.ResetBreakerRequest(model="a"))
    await wait_for(lambda: state_of(first, "a") is BreakerState.CLOSED, within=1.0)
    # The reset forgot the ejection count too, and removed the shared key (no resync reopens).
    entry = first.registry.get("a")
    assert entry is not None
    assert entry.breaker.ejections == 0
    assert first.state is not None
    assert await first.state.get("breaker:a") is None


async def test_a_replica_that_missed_the_message_catches_up_at_the_resync(
    make_router: Any, upstream: FakeUpstream
) -> None:
    state = redis_state()
    first, _ = await open_a(make_router, upstream, state)
    # Started after the announcement: only the stored key can tell it.
    late, late_stub = await make_router(
        MODELS, ("a", "b"), retry=RETRY, breaker=BREAKER, state=state
    )
    began = time.monotonic()
    await wait_for(lambda: state_of(late, "a") is BreakerState.OPEN, within=1.5)
    assert time.monotonic() - began <= 1.2  # the resync runs every second
    calls = upstream.calls("a")
    reply = await late_stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.model == "b"
    assert upstream.calls("a") == calls
    # The ejection ends when the first replica's does (to the resync's precision).
    ours, theirs = late.registry.get("a"), first.registry.get("a")
    assert ours is not None
    assert theirs is not None
    assert abs(ours.breaker.retry_after() - theirs.breaker.retry_after()) < 0.5


async def test_an_unreachable_store_leaves_breakers_per_replica(
    make_router: Any, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    state = StateConfig(
        backend="redis",
        redis_url=f"redis://127.0.0.1:{port}/0",
        connect_timeout_ms=100,
        operation_timeout_ms=100,
    )
    upstream.set("a", Behavior(status=503))
    short = BreakerConfig(consecutive_failures=3, base_ejection_s=0.3, max_ejection_s=0.3)
    with caplog.at_level(logging.WARNING, logger="router_svc.shared_health"):
        router, stub = await make_router(
            MODELS, ("a", "b"), retry=RETRY, breaker=short, state=state
        )
        for _ in range(3):
            reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
            assert reply.model == "b"  # no error reaches the client
        assert state_of(router, "a") is BreakerState.OPEN
        # The ejection ends; the election fails, and this replica probes on its own.
        upstream.set("a")
        await asyncio.sleep(0.6)
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        assert reply.model == "a"
        assert state_of(router, "a") is BreakerState.CLOSED
    assert router.shared_health is not None
    assert router.shared_health.unavailable > 0
    warnings = [r for r in caplog.records if "state store unavailable" in r.getMessage()]
    assert len(warnings) == 1  # logged once for the outage, however many operations failed


async def test_replicas_merge_latency_by_sample_counts(
    make_router: Any, upstream: FakeUpstream
) -> None:
    state = redis_state()
    fast, _ = await make_router(MODELS, ("a", "b"), state=state)
    _slow, slow_stub = await make_router(MODELS, ("a", "b"), state=state)
    upstream.set("a", Behavior(delay_s=0.2))
    for _ in range(3):
        await slow_stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    stats = fast.registry.get("a").stats
    assert stats.ewma_latency_s is None  # fast itself has seen nothing
    await wait_for(lambda: stats.merged_latency_s is not None, within=2.5)
    assert stats.merged_latency_s is not None
    assert stats.merged_latency_s >= 0.2
    assert stats.merged_success_rate == 1.0


def test_merged_statistics_weigh_each_replica_by_its_samples() -> None:
    stats = ModelStats()
    for _ in range(10):
        stats.observe(ok=True, latency_s=1.0, now=0.0)
    later = time.monotonic() + 60
    stats.set_peer(
        "r2", PeerStats(ewma_latency_s=4.0, recent_ok=30, recent_total=40, expires=later)
    )
    stats.set_peer(
        "r3", PeerStats(ewma_latency_s=None, recent_ok=0, recent_total=50, expires=later)
    )
    # (10 x 1.0 + 30 x 4.0) / 40 successes; 40 of 100 attempts succeeded.
    assert stats.merged_latency_s == pytest.approx(3.25)
    assert stats.merged_success_rate == pytest.approx(0.4)
    stats.set_peer("r2", PeerStats(4.0, 30, 40, expires=time.monotonic() + 0.05))
    time.sleep(0.1)  # r2 goes quiet: its summary is dropped
    assert stats.merged_latency_s == pytest.approx(1.0)
    assert stats.merged_success_rate == pytest.approx(10 / 60)


def test_the_published_summary_counts_only_the_last_hundred_outcomes() -> None:
    stats = ModelStats()
    outcomes = [i % 3 != 0 for i in range(250)]
    for ok in outcomes:
        stats.observe(ok=ok, latency_s=0.5, now=0.0)
    latency, ok_count, total = stats.summary()
    assert (ok_count, total) == (sum(outcomes[-100:]), 100)
    assert stats.success_rate == pytest.approx(ok_count / total)
    assert latency == pytest.approx(0.5)
