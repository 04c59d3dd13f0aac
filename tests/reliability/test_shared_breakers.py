"""Breakers shared by router replicas through Redis, with real processes.

Three router processes share one Redis ([state] backend = "redis") and one fake upstream
whose model ``bad`` answers 503. Three failing requests to router0 open its breaker; routers 1
and 2 then skip ``bad`` within a second (their Route lists it as BREAKER_OPEN, and requests
sent to them never reach the upstream's ``bad``). When the ejection ends, all three are sent
requests at once: exactly one probe reaches the upstream, its failure reopens every breaker;
after the upstream recovers (answering slowly, so that requests to the other replicas arrive
while the probe is in flight), the next single probe closes every breaker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc
from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.test_shared_state import _redis_up

from .stack import Stack, metrics_section, openai_models, router_section, stack

REPLICAS = 3
EJECTION_S = 3.0
PROBE_TIMEOUT_S = 2.0
SKIP_WITHIN_S = 1.0


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as started:
        yield started


def router_config(
    tmp: Path, name: str, metrics_port: int, upstream: FakeUpstream, prefix: str
) -> str:
    body = f"""default_chain = ["bad", "good"]
[router.retry]
attempts_per_model = 1
[router.breaker]
consecutive_failures = 3
base_ejection_s = {EJECTION_S}
max_ejection_s = {EJECTION_S}
probe_timeout_s = {PROBE_TIMEOUT_S}
{openai_models("up", upstream.base_url, ["bad", "good"])}
[state]
backend = "redis"
redis_url = "redis://127.0.0.1:6379/0"
key_prefix = "{prefix}"
"""
    return router_section(tmp, name, metrics_port, body)


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])


async def complete(port: int) -> str:
    """Send one chat to the router on ``port``; the model that answered."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()), timeout=10)
    return str(reply.model)


async def bad_skipped(port: int) -> bool:
    """Whether the router on ``port`` now routes past ``bad`` for an open breaker."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()), timeout=5)
    return any(
        s.model == "bad" and s.reason == router_service_pb2.SKIP_REASON_BREAKER_OPEN
        for s in decision.skipped_models
    )


async def seconds_until_skipped(port: int, began: float, within_s: float) -> float:
    deadline = began + within_s + 2.0  # look a little past the bound, to measure
    while time.monotonic() < deadline:
        if await bad_skipped(port):
            return time.monotonic() - began
        await asyncio.sleep(0.01)
    return float("inf")


async def burst(ports: list[int], rounds: int, gap_s: float) -> list[list[str]]:
    """``rounds`` times, one request to every router at once; the models that answered, by
    round."""
    served: list[list[str]] = []
    for _ in range(rounds):
        served.append(list(await asyncio.gather(*(complete(p) for p in ports))))
        await asyncio.sleep(gap_s)
    return served


def flat(rounds: list[list[str]]) -> list[str]:
    return [model for answered in rounds for model in answered]


async def test_a_breaker_opened_by_one_replica_is_honoured_by_all_and_probed_once(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    upstream.set("bad", Behavior(status=503))
    running: Stack
    # One prefix for the three replicas, of their own: parallel runs never see each other's.
    prefix = f"llmrouter-test:{uuid.uuid4().hex}:"
    async with stack(tmp_path) as running:
        metrics = await running.start("metrics", "metrics", metrics_section(tmp_path))
        routers = await asyncio.gather(
            *(
                running.start(
                    f"router{i}",
                    "router",
                    router_config(tmp_path, f"router{i}", metrics.port, upstream, prefix),
                )
                for i in range(REPLICAS)
            )
        )
        ports = [r.port for r in routers]
        await asyncio.sleep(0.5)  # every replica's subscription is attached

        # Three failures on router0 open its breaker (each fails over to good).
        assert [await complete(ports[0]) for _ in range(3)] == ["good"] * 3
        assert upstream.calls("bad") == 3
        opened = time.monotonic()
        waits = await asyncio.gather(
            *(seconds_until_skipped(p, opened, SKIP_WITHIN_S) for p in ports[1:])
        )
        assert max(waits) < SKIP_WITHIN_S, waits
        # Requests to the other replicas go to good without calling bad.
        assert flat(await burst(ports[1:], rounds=3, gap_s=0.05)) == ["good"] * 6
        assert upstream.calls("bad") == 3

        # The ejection ends: all three replicas are busy, one probe goes out (and fails).
        await asyncio.sleep(max(opened + EJECTION_S + 0.1 - time.monotonic(), 0))
        probe_phase = time.monotonic()
        served = flat(await burst(ports, rounds=10, gap_s=0.1))
        assert set(served) == {"good"}
        assert upstream.calls("bad") == 4, [r.model for r in upstream.requests]
        # Its failure reopened every replica's breaker.
        assert all(await asyncio.gather(*(bad_skipped(p) for p in ports)))

        # Recovered: the next ejection's single probe succeeds and closes every breaker.
        # Slow answers: the other replicas' requests arrive while the probe is in flight.
        upstream.set("bad", Behavior(delay_s=0.5))
        await asyncio.sleep(max(probe_phase + EJECTION_S + 0.1 - time.monotonic(), 0))
        recovery = await burst(ports, rounds=10, gap_s=0.1)
        # The first round that reached bad reached it once: the probe; the others waited.
        first = next(answered for answered in recovery if "bad" in answered)
        assert first.count("bad") == 1, recovery
        deadline = time.monotonic() + SKIP_WITHIN_S
        while any(await asyncio.gather(*(bad_skipped(p) for p in ports))):
            assert time.monotonic() < deadline, "a replica still skips bad after the probe"
            await asyncio.sleep(0.02)
        assert flat(await burst(ports, rounds=1, gap_s=0)) == ["bad"] * REPLICAS
    skipped_ms = ", ".join(f"{w * 1000:.0f}" for w in waits)
    print(
        f"\nshared breakers: routers 1 and 2 skipped bad {skipped_ms} ms after router0 opened "
        f"it; 1 probe of 30 requests after the first ejection; recovery rounds {recovery}"
    )
