"""Deployments (README, "Deployments"): one model served by several deployments, balanced by
its strategy, failed over deployment by deployment before the chain moves on. Through a real
router over gRPC, against real fake upstreams over HTTP: one server per deployment, so what
each deployment served is what its server received."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from llmrouter.config import ConfigError
from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.config import (
    DeploymentConfig,
    ModelConfig,
    ProviderConfig,
    RetryConfig,
    load_config,
)
from router_svc.providers.simulated import SimulatedProvider
from router_svc.registry import ModelEntry, Registry
from router_svc.routing.balance import EXPLORE, Walk, choose, latency_factor
from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import FakeMetrics, wait_for

# Requests per distribution proof, and how many are in flight at once.
REQUESTS = 1000
CONCURRENCY = 20
# Each deployment's share must be within this of its expected share. For a fair coin drawn
# REQUESTS times the standard deviation is 1.6 %: the band is 3 standard deviations of pure
# chance (weighted draws), and far more for the balancers that correct themselves.
TOLERANCE = 0.05
# Each answer takes this long upstream: requests overlap, so in-flight counts matter.
UPSTREAM_DELAY_S = 0.01
FAST_RETRY = RetryConfig(attempts_per_model=2, backoff_base_s=0.001, backoff_max_s=0.002)


def chat(model: str = "m", text: str = "hello") -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=model, messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)]
    )


def providers(*upstreams: FakeUpstream | str) -> tuple[ProviderConfig, ...]:
    """Providers "p1", "p2"...: OpenAI-compatible, one per upstream (or base URL)."""
    return tuple(
        ProviderConfig(
            name=f"p{i}",
            kind="openai",
            base_url=u if isinstance(u, str) else f"{u.base_url}/v1",
        )
        for i, u in enumerate(upstreams, start=1)
    )


def deployed(
    balancing: str = "least_outstanding", weights: tuple[float, float] = (1.0, 1.0), **kwargs: Any
) -> ModelConfig:
    """Model "m": deployment "one" on p1 at $1 / $2, "two" on p2 at $10 / $20 per million."""
    fields: dict[str, Any] = dict(
        name="m",
        context_window=100_000,
        upstream_model="gpt-4o",
        balancing=balancing,
        deployments=(
            DeploymentConfig(
                name="one",
                provider="p1",
                input_price_per_million=1.0,
                output_price_per_million=2.0,
                weight=weights[0],
            ),
            DeploymentConfig(
                name="two",
                provider="p2",
                input_price_per_million=10.0,
                output_price_per_million=20.0,
                weight=weights[1],
            ),
        ),
    )
    fields.update(kwargs)
    return ModelConfig(**fields)


@asynccontextmanager
async def second_upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as fake:
        yield fake


async def load(stub: Any, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> None:
    """``requests`` Complete calls for model "m", ``concurrency`` at a time; all must answer."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            response = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
            assert response.model == "m"

    await asyncio.gather(*(one() for _ in range(requests)))


def refused_port() -> int:
    """A local port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records(fake_metrics: tuple[FakeMetrics, Any]) -> list[metrics_service_pb2.UsageRecord]:
    """The usage records received, by request then attempt."""
    return sorted(fake_metrics[0].records.values(), key=lambda r: (r.request_id, r.attempt))


def in_flight(running: Any) -> dict[str, int]:
    return {d.key: d.outstanding for d in running.registry.deployments()}


# --- config ---------------------------------------------------------------------------------


def router_document(model: dict[str, Any]) -> dict[str, Any]:
    return {
        "router": {
            "providers": [
                {"name": "p1", "kind": "simulated"},
                {"name": "p2", "kind": "simulated"},
            ],
            "models": [model],
            "default_chain": ["m"],
        }
    }


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"name": "m", "deployments": [{"name": "a", "provider": "p1"}, {"name": "a"}]},
            "router.models[0].deployments[1].name: duplicate deployment name 'a'",
        ),
        (
            {"name": "m", "deployments": [{"name": "a", "provider": "nowhere"}]},
            "router.models[0].deployments[0].provider: unknown provider 'nowhere'",
        ),
        (
            {"name": "m", "deployments": [{"name": "a", "provider": "p1", "weight": 0}]},
            "router.models[0].deployments[0].weight: must be positive, got 0",
        ),
        (
            {"name": "m", "deployments": [{"name": "a", "provider": "p1", "weight": -1.5}]},
            "router.models[0].deployments[0].weight: must be positive, got -1.5",
        ),
        (
            {"name": "m", "deployments": [{"name": "a"}]},
            "router.models[0].deployments[0].provider: missing",
        ),
        (
            {"name": "m", "deployments": [{"provider": "p1"}]},
            "router.models[0].deployments[0].name: missing required value",
        ),
        (
            {"name": "m", "deployments": [{"name": "a", "provider": "p1", "rpm": -1}]},
            "router.models[0].deployments[0].rpm: must be 0 (no limit) or positive, got -1",
        ),
        (
            {"name": "m", "provider": "p1", "balancing": "round_robin"},
            "router.models[0].balancing: expected one of weighted, least_outstanding, "
            "lowest_latency, got 'round_robin'",
        ),
        (
            {"name": "m", "provider": "p1", "latency_buffer": -0.1},
            "router.models[0].latency_buffer: must be 0 or more",
        ),
        ({"name": "m"}, "router.models[0].provider: missing required value"),
        (
            {"name": "m", "deployments": []},
            "router.models[0].deployments: the list is empty",
        ),
        (
            {"name": "m", "provider": "p1", "deployments": []},
            "router.models[0].deployments: the list is empty",
        ),
        (
            {"name": "m", "deployments": [{"name": "we@st", "provider": "p1"}]},
            "router.models[0].deployments[0].name: 'we@st' may not contain '@': breakers, "
            "quotas and retry budgets are keyed by '<model>@<deployment>'",
        ),
        (
            {"name": "m", "deployments": [{"name": "east", "provider": "p1"}, {"name": "@"}]},
            "router.models[0].deployments[1].name: '@' may not contain '@'",
        ),
        (
            {"name": "m", "deployments": [{"name": "west:2", "provider": "p1"}]},
            "router.models[0].deployments[0].name: 'west:2' may not contain ':'",
        ),
        (
            {"name": "m", "deployments": [{"name": "a", "provider": "p1", "colour": "red"}]},
            "router.models[0].deployments[0].colour: unknown key",
        ),
    ],
)
def test_invalid_deployments_fail_at_start_naming_the_key(
    model: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(document=router_document(model), environ={})
    assert str(caught.value).startswith(message)


def test_a_deployment_takes_the_models_values_it_does_not_set() -> None:
    config = load_config(
        document=router_document(
            {
                "name": "m",
                "provider": "p1",
                "upstream_model": "up-m",
                "input_price_per_million": 3.0,
                "output_price_per_million": 6.0,
                "rpm": 60,
                "deployments": [
                    {"name": "a"},
                    {
                        "name": "b",
                        "provider": "p2",
                        "upstream_model": "up-b",
                        "input_price_per_million": 1.0,
                        "rpm": 10,
                        "weight": 3,
                    },
                ],
            }
        ),
        environ={},
    )
    (model,) = config.models
    assert model.balancing == "least_outstanding"  # the default
    served = {d.name: m for d, m in model.served_as() if d is not None}
    assert (served["a"].provider, served["a"].upstream_model, served["a"].rpm) == ("p1", "up-m", 60)
    assert (served["a"].input_price_per_million, served["a"].output_price_per_million) == (3, 6)
    assert (served["b"].provider, served["b"].upstream_model, served["b"].rpm) == ("p2", "up-b", 10)
    assert (served["b"].input_price_per_million, served["b"].output_price_per_million) == (1, 6)


def test_a_model_without_deployments_is_its_one_implicit_deployment() -> None:
    provider = SimulatedProvider(ProviderConfig(name="sim", kind="simulated"))
    registry = Registry([ModelConfig(name="plain", provider="sim")], {"sim": provider})
    (entry,) = registry.entries()
    assert (entry.deployment, entry.deployments, entry.key) == ("", (), "plain")
    assert registry.deployments() == [entry]


# --- the balancing strategies, picked directly -------------------------------------------------


def entries(*weights: float, balancing: str = "least_outstanding") -> list[ModelEntry]:
    provider = SimulatedProvider(ProviderConfig(name="sim", kind="simulated"))
    model = ModelConfig(
        name="m",
        balancing=balancing,
        deployments=tuple(
            DeploymentConfig(name=f"d{i}", provider="sim", weight=w) for i, w in enumerate(weights)
        ),
    )
    (entry,) = Registry([model], {"sim": provider}).entries()
    return list(entry.deployments)


def shares(picked: list[int], count: int) -> list[float]:
    return [picked.count(i) / len(picked) for i in range(count)]


def test_least_outstanding_takes_the_least_busy_and_breaks_ties_by_weight() -> None:
    rand = random.Random(7).random
    one, two = entries(1, 1)
    one.outstanding = 3
    assert {choose([one, two], [True, True], rand) for _ in range(100)} == {1}
    two.outstanding = 3
    picks = [choose([one, two], [True, True], rand) for _ in range(10_000)]
    assert shares(picks, 2) == pytest.approx([0.5, 0.5], abs=0.02)
    # Weighted: load is counted per unit of weight, and ties drawn by weight.
    heavy, light = entries(3, 1)
    picks = [choose([heavy, light], [True, True], rand) for _ in range(10_000)]
    assert shares(picks, 2) == pytest.approx([0.75, 0.25], abs=0.02)
    heavy.outstanding, light.outstanding = 2, 1  # 2/3 < 1/1: the heavy one is less busy
    assert choose([heavy, light], [True, True], rand) == 0
    # Never one that is not usable.
    assert {choose([heavy, light], [False, True], rand) for _ in range(100)} == {1}


def test_lowest_latency_shares_within_its_buffer_tries_the_unmeasured_and_explores() -> None:
    rand = random.Random(11).random
    fast, near, slow, unknown = entries(1, 1, 1, 1, balancing="lowest_latency")
    for entry, latency in ((fast, 0.100), (near, 0.120), (slow, 0.300)):
        entry.stats.observe(ok=True, latency_s=latency, now=time.time())
    picks = [choose([fast, near, slow, unknown], [True] * 4, rand) for _ in range(40_000)]
    # fast, near (within 25 %) and the unmeasured one share; the slow one (3x) keeps 3 % of
    # its weight; and 5 % of picks explore, by weight alone.
    kept = latency_factor(0.300, 0.100 * 1.25)
    assert kept == pytest.approx((1.25 / 3) ** 4)
    total = 3 + kept
    expected = [(1 - EXPLORE) * w / total + EXPLORE / 4 for w in (1, 1, kept, 1)]
    assert shares(picks, 4) == pytest.approx(expected, abs=0.01)


def test_lowest_latency_spills_over_to_the_next_fastest_while_the_fastest_is_busy() -> None:
    rand = random.Random(5).random
    fast, slower = entries(1, 1, balancing="lowest_latency")
    fast.stats.observe(ok=True, latency_s=0.100, now=time.time())
    slower.stats.observe(ok=True, latency_s=0.200, now=time.time())
    # Idle: the slower one, at 2x, keeps 15 % of its weight.
    favoured = (1 - EXPLORE) / (1 + (1.25 / 2) ** 4) + EXPLORE / 2
    picks = [choose([fast, slower], [True, True], rand) for _ in range(10_000)]
    assert shares(picks, 2)[0] == pytest.approx(favoured, abs=0.015)
    fast.outstanding = 3  # a new attempt expects 4 x 100 ms on it, 200 ms on the other
    picks = [choose([fast, slower], [True, True], rand) for _ in range(10_000)]
    assert shares(picks, 2)[1] == pytest.approx(favoured, abs=0.015)


def step(walk: Walk, attempts: int) -> tuple[ModelEntry, int]:
    picked = walk.next(attempts, -1, random.Random(3).random)
    assert picked is not None
    return picked


def test_a_walk_tries_each_deployment_before_retrying_one_and_skips_open_circuits() -> None:
    one, two, three = entries(1, 1, 1)
    walk = Walk([one, two, three])
    first = [step(walk, 2) for _ in range(3)]
    assert sorted(e.deployment for e, tries in first if tries == 1) == ["d0", "d1", "d2"]
    second = [step(walk, 2) for _ in range(3)]
    assert sorted(e.deployment for e, tries in second if tries == 2) == ["d0", "d1", "d2"]
    assert walk.next(2, -1, random.random) is None
    # A deployment whose circuit is open is left for last.
    for _ in range(one.breaker.policy.consecutive_failures):
        one.breaker.record_failure()
    walk = Walk([one, two, three])
    picked = [step(walk, 1) for _ in range(3)]
    assert [e.deployment for e, _ in picked][2] == "d0"
    # A dropped deployment is never picked again; nor one too small after a context-length
    # error.
    walk = Walk([two, three])
    walk.drop(two)
    assert step(walk, 5) == (three, 1)
    three.context_window = 1000
    assert walk.next(5, 1000, random.random) is None


# --- distribution under concurrent load, through the router -----------------------------------


@pytest.mark.parametrize("balancing", ["least_outstanding", "weighted", "lowest_latency"])
async def test_two_equal_deployments_each_serve_half_under_concurrent_load(
    make_router: Any, upstream: FakeUpstream, balancing: str
) -> None:
    async with second_upstream() as other:
        for fake in (upstream, other):
            fake.set(None, Behavior(delay_s=UPSTREAM_DELAY_S))
        running, stub = await make_router(
            (deployed(balancing),), ("m",), providers=providers(upstream, other)
        )
        await load(stub)
        served = (len(upstream.requests), len(other.requests))

    assert sum(served) == REQUESTS  # no failover: each request went to one deployment once
    assert served[0] / REQUESTS == pytest.approx(0.5, abs=TOLERANCE), served
    assert served[1] / REQUESTS == pytest.approx(0.5, abs=TOLERANCE), served
    assert in_flight(running) == {"m@one": 0, "m@two": 0}


async def test_weights_three_to_one_serve_three_quarters_and_one_quarter(
    make_router: Any, upstream: FakeUpstream
) -> None:
    async with second_upstream() as other:
        for fake in (upstream, other):
            fake.set(None, Behavior(delay_s=UPSTREAM_DELAY_S))
        _, stub = await make_router(
            (deployed("weighted", weights=(3.0, 1.0)),),
            ("m",),
            providers=providers(upstream, other),
        )
        await load(stub)
        served = (len(upstream.requests), len(other.requests))

    assert served[0] / REQUESTS == pytest.approx(0.75, abs=TOLERANCE), served
    assert served[1] / REQUESTS == pytest.approx(0.25, abs=TOLERANCE), served


async def test_least_outstanding_keeps_requests_in_flight_in_proportion_to_weight(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # least_outstanding balances what is in flight (per unit of weight), not what is served:
    # a deployment that answers more slowly under its larger load serves a little less than
    # its weight's share. Sampled while the load runs.
    async with second_upstream() as other:
        for fake in (upstream, other):
            fake.set(None, Behavior(delay_s=UPSTREAM_DELAY_S))
        running, stub = await make_router(
            (deployed("least_outstanding", weights=(3.0, 1.0)),),
            ("m",),
            providers=providers(upstream, other),
        )
        samples: list[tuple[int, int]] = []

        async def sample() -> None:
            while True:
                flying = in_flight(running)
                if sum(flying.values()) >= CONCURRENCY // 2:
                    samples.append((flying["m@one"], flying["m@two"]))
                await asyncio.sleep(0.002)

        sampler = asyncio.create_task(sample())
        await load(stub)
        sampler.cancel()
        served = (len(upstream.requests), len(other.requests))

    heavy = sum(a for a, _ in samples) / sum(a + b for a, b in samples)
    assert heavy == pytest.approx(0.75, abs=TOLERANCE), (heavy, len(samples))
    assert served[0] / REQUESTS == pytest.approx(0.75, abs=2 * TOLERANCE), served


async def test_lowest_latency_sends_most_traffic_to_the_faster_deployment(
    make_router: Any, upstream: FakeUpstream
) -> None:
    async with second_upstream() as other:
        upstream.set(None, Behavior(delay_s=0.005))
        other.set(None, Behavior(delay_s=0.200))  # 40x slower: far outside the 25 % buffer
        _, stub = await make_router(
            (deployed("lowest_latency"),), ("m",), providers=providers(upstream, other)
        )
        await load(stub, requests=400)
        served = (len(upstream.requests), len(other.requests))

    # The slow one keeps its part of the exploration draws (2.5 %), the picks made before it
    # was measured, and what spills over while the fast one is busy; the rest goes to the
    # fast one.
    assert 0 < served[1] / 400 < 0.10, served


# --- failover between deployments, then down the chain --------------------------------------


@pytest.mark.parametrize("down", ["http_500", "connection_refused"])
async def test_a_deployment_that_is_down_leaves_the_other_serving_with_no_client_error(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any, down: str
) -> None:
    if down == "http_500":
        upstream.set(None, Behavior(status=500))
        broken: FakeUpstream | str = upstream
    else:
        broken = f"http://127.0.0.1:{refused_port()}/v1"
    async with second_upstream() as healthy:
        healthy.set(None, Behavior(delay_s=UPSTREAM_DELAY_S))
        running, stub = await make_router(
            (deployed("weighted"),),
            ("m",),
            providers=providers(broken, healthy),
            retry=FAST_RETRY,
        )
        await load(stub, requests=200)  # every one answers (load asserts it)
        assert len(healthy.requests) == 200

    await wait_for(lambda: len(fake_metrics[0].records) >= 200)
    attempts = records(fake_metrics)
    answered = [r for r in attempts if r.status == metrics_service_pb2.USAGE_STATUS_SUCCEEDED]
    assert {(r.model, r.deployment, r.provider) for r in answered} == {("m", "two", "p2")}
    failed = [r for r in attempts if r.status == metrics_service_pb2.USAGE_STATUS_FAILED]
    assert {(r.model, r.deployment, r.provider) for r in failed} == {("m", "one", "p1")}
    # The broken deployment's breaker opened after a few failures (those in flight by then
    # failed too): the rest went straight to the healthy one, where weighted draws would
    # have sent it half of them.
    consecutive = running.registry.get("m").breaker.policy.consecutive_failures
    assert 1 <= len(failed) <= consecutive + CONCURRENCY
    by_time = sorted(attempts, key=lambda r: (r.time.seconds, r.time.nanos))
    assert all(r.deployment == "two" for r in by_time[len(by_time) // 2 :])
    # Moving to another deployment of the same model is no fallback (the model is the same),
    # but the attempt says why it was made.
    after = [r for r in answered if r.attempt == 2]
    assert after
    assert all(not r.fallback and r.fallback_reason for r in after)
    assert running.registry.get("m").breaker.state.value == "open"  # the model's first
    assert in_flight(running) == {"m@one": 0, "m@two": 0}


async def test_every_deployment_is_tried_before_the_chain_moves_to_the_next_model(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    async with second_upstream() as other, second_upstream() as third:
        upstream.set(None, Behavior(status=503))
        other.set(None, Behavior(status=503))
        fallback = ModelConfig(
            name="next",
            provider="p3",
            input_price_per_million=0.5,
            output_price_per_million=0.5,
            context_window=100_000,
        )
        _, stub = await make_router(
            (deployed(), fallback),
            ("m", "next"),
            providers=providers(upstream, other, third),
            retry=FAST_RETRY,
        )
        response = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("auto")))

    assert (response.model, response.provider, response.fallback) == ("next", "p3", True)
    await wait_for(lambda: len(fake_metrics[0].records) >= 5)
    (request_id,) = {r.request_id for r in records(fake_metrics)}
    tried = [(r.model, r.deployment, r.status) for r in records(fake_metrics)]
    failed = metrics_service_pb2.USAGE_STATUS_FAILED
    succeeded = metrics_service_pb2.USAGE_STATUS_SUCCEEDED
    # Each deployment once (the other one at once, no backoff), then each retried once
    # (attempts_per_model = 2, per deployment), only then the next model.
    assert [t[0] for t in tried] == ["m", "m", "m", "m", "next"]
    assert sorted(t[1] for t in tried[:2]) == ["one", "two"]
    assert sorted(t[1] for t in tried[2:4]) == ["one", "two"]
    assert [t[2] for t in tried] == [failed] * 4 + [succeeded]
    assert (len(upstream.requests), len(other.requests), len(third.requests)) == (2, 2, 1)
    assert request_id == response.id


async def test_usage_is_billed_at_the_serving_deployments_price(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    async with second_upstream() as other:
        for fake in (upstream, other):
            fake.set(None, Behavior(prompt_tokens=1000, chunks=10, text="x" * 50))
        _, stub = await make_router(
            (deployed("weighted"),), ("m",), providers=providers(upstream, other)
        )
        for _ in range(20):
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))

    await wait_for(lambda: len(fake_metrics[0].records) >= 20)
    prices = {"one": (1.0, 2.0), "two": (10.0, 20.0)}
    seen = set()
    for record in records(fake_metrics):
        assert record.model == "m"  # costs group by the logical model
        input_price, output_price = prices[record.deployment]
        assert (record.prompt_tokens, record.completion_tokens) == (1000, 10)
        assert record.cost_usd == pytest.approx((1000 * input_price + 10 * output_price) / 1e6)
        assert record.provider == {"one": "p1", "two": "p2"}[record.deployment]
        seen.add(record.deployment)
    assert seen == {"one", "two"}  # 20 weighted draws reached both (1 in 500k they would not)


# --- streams and hedges hold their deployment until they end --------------------------------


async def test_streams_count_in_flight_until_they_end(
    make_router: Any, upstream: FakeUpstream
) -> None:
    async with second_upstream() as other:
        for fake in (upstream, other):
            fake.set(None, Behavior(chunks=3, chunk_delay_s=0.2))
        running, stub = await make_router(
            (deployed("least_outstanding"),), ("m",), providers=providers(upstream, other)
        )
        calls = [
            stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
            for _ in range(4)
        ]
        streams = [aiter(call) for call in calls]
        firsts = [await anext(stream) for stream in streams]  # each stream has begun
        assert all(first.HasField("start") for first in firsts)
        # Four streams open, two per deployment: least_outstanding spread them evenly.
        assert in_flight(running) == {"m@one": 2, "m@two": 2}
        for stream in streams:
            async for _ in stream:  # the rest of each stream, to its summary
                pass
        assert in_flight(running) == {"m@one": 0, "m@two": 0}
        # A stream the caller abandons is released too.
        call = stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
        await call.read()
        assert sum(in_flight(running).values()) == 1
        call.cancel()
        await wait_for(lambda: sum(in_flight(running).values()) == 0)


async def test_a_hedge_goes_to_another_deployment_of_the_same_model(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    async with second_upstream() as other:
        upstream.set(None, Behavior(delay_s=2.0))  # late
        other.set(None, Behavior())
        running, stub = await make_router(
            (deployed("weighted", weights=(1000.0, 0.001)),),  # the late one comes first
            ("m",),
            providers=providers(upstream, other),
            retry=RetryConfig(hedge_after_s=0.05),
        )
        started = time.monotonic()
        response = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        took = time.monotonic() - started
        await wait_for(lambda: sum(in_flight(running).values()) == 0)

    assert response.model == "m"
    assert took < 1.0
    await wait_for(lambda: len(fake_metrics[0].records) >= 2)
    by_attempt = {r.attempt: r for r in records(fake_metrics)}
    assert (by_attempt[1].deployment, by_attempt[1].error_type) == ("one", "HEDGE_LOST")
    assert (by_attempt[2].deployment, by_attempt[2].fallback_reason) == ("two", "HEDGE")
    assert by_attempt[2].status == metrics_service_pb2.USAGE_STATUS_SUCCEEDED


# --- what Route and ListModels show ------------------------------------------------------------


async def test_route_names_the_deployment_of_the_first_attempt_and_why(
    make_router: Any, upstream: FakeUpstream
) -> None:
    async with second_upstream() as other:
        upstream.set(None, Behavior(status=500))
        running, stub = await make_router(
            (deployed("least_outstanding"),),
            ("m",),
            providers=providers(upstream, other),
            retry=RetryConfig(attempts_per_model=1),
        )
        decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
        (candidate,) = decision.candidates
        assert candidate.deployment in {"one", "two"}
        assert "least_outstanding" in candidate.reason
        assert candidate.reason.startswith("chain position 1; deployment ")

        one = running.registry.get("m")
        while one.breaker.state.value != "open":  # fail deployment "one" until it is ejected
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))

    (candidate,) = decision.candidates
    assert (candidate.model, candidate.deployment, candidate.provider) == ("m", "two", "p2")
    assert re.search(
        r": the only one that can take the request now; passed over: one "
        r"\(circuit open, next probe in \d+s\)$",
        candidate.reason,
    )
    assert not decision.skipped_models  # the model itself still serves


@pytest.mark.parametrize(
    ("probes_in_flight", "passed_over"),
    [
        (1, "passed over: one (half-open (probe in flight))"),
        (0, ""),  # half-open with its probe slot free: in the draw again
    ],
)
async def test_route_says_half_open_when_a_deployments_probe_is_in_flight(
    make_router: Any, upstream: FakeUpstream, probes_in_flight: int, passed_over: str
) -> None:
    async with second_upstream() as other:
        running, stub = await make_router(
            (deployed("least_outstanding"),), ("m",), providers=providers(upstream, other)
        )
        breaker = running.registry.get("m").breaker  # deployment "one"
        breaker.apply_open(0.0, 1)  # its ejection ends now: the next look finds it half-open
        for _ in range(probes_in_flight):
            assert breaker.allow()  # a probe goes out and has not reported yet
        decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
        (model,) = (await stub.ListModels(router_service_pb2.ListModelsRequest())).models

    assert {d.name: d.breaker_state for d in model.deployments}["one"] == "half_open"
    (candidate,) = decision.candidates
    assert "circuit open" not in candidate.reason
    if passed_over:
        assert candidate.deployment == "two"
        assert candidate.reason.endswith(passed_over)
    else:
        assert "passed over" not in candidate.reason


async def test_prometheus_series_name_each_deployment_on_a_shared_provider(
    make_router: Any, upstream: FakeUpstream
) -> None:
    import httpx

    from tests.conftest import free_port

    model = ModelConfig(
        name="m",
        balancing="weighted",
        deployments=(
            DeploymentConfig(name="east", provider="p1", upstream_model="gpt-east"),
            DeploymentConfig(name="west", provider="p1", upstream_model="gpt-west"),
        ),
    )
    upstream.set("gpt-west", Behavior(status=500))
    running, stub = await make_router(
        (model, ModelConfig(name="solo", provider="p1")),
        ("m",),
        providers=providers(upstream),
        retry=RetryConfig(attempts_per_model=1),
        prometheus_port=free_port(),
    )
    west = next(d for d in running.registry.deployments() if d.deployment == "west")
    while west.breaker.state.value != "open":  # failover to east answers each request
        assert (await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))).model
    await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("solo")))
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text

    # One breaker series per deployment, "" for a model's one implicit deployment.
    assert 'llmrouter_breaker_state{deployment="east",model="m",provider="p1"} 0.0' in text
    assert 'llmrouter_breaker_state{deployment="west",model="m",provider="p1"} 2.0' in text
    assert 'llmrouter_breaker_state{deployment="",model="solo",provider="p1"} 0.0' in text
    assert re.search(
        r'llmrouter_attempts_total\{deployment="west",model="m",provider="p1",'
        r'status="failed"\} [1-9]',
        text,
    )
    assert re.search(
        r'llmrouter_attempts_total\{deployment="east",model="m",provider="p1",'
        r'status="succeeded"\} [1-9]',
        text,
    )
    assert 'llmrouter_cost_usd_total{deployment="",model="solo",provider="p1"}' in text
    assert 'llmrouter_attempt_duration_seconds_count{deployment="west",model="m"' in text


async def test_list_models_shows_the_model_once_with_its_deployments(
    make_router: Any, upstream: FakeUpstream
) -> None:
    async with second_upstream() as other:
        _, stub = await make_router(
            (deployed("weighted", weights=(3.0, 1.0)),),
            ("m",),
            providers=providers(upstream, other),
        )
        listed = await stub.ListModels(router_service_pb2.ListModelsRequest())

    (model,) = listed.models
    assert (model.name, model.balancing) == ("m", "weighted")
    assert [
        (d.name, d.provider, d.upstream_model, d.input_price_per_million, d.weight)
        for d in model.deployments
    ] == [("one", "p1", "gpt-4o", 1.0, 3.0), ("two", "p2", "gpt-4o", 10.0, 1.0)]
    assert {d.breaker_state for d in model.deployments} == {"closed"}
