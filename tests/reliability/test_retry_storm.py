"""Retry storm: every provider answers 503. The per-model retry budgets and the breakers keep
upstream calls per client request within the bound the config sets, and clients get fast 503s
that say when to come back (Retry-After)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import httpx
import pytest

from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from tests.fakes import Behavior, running_upstream

from .stack import (
    gateway_section,
    metrics_section,
    model_health,
    openai_models,
    router_section,
    scaled,
    stack,
)

KEY = "sk-reliability-storm-0123456789"
REQUESTS = scaled(300, 5000)
CONCURRENCY = 10
MODELS = ("a", "b", "c")
ATTEMPTS_PER_MODEL = 3
BUDGET_MAX_TOKENS = 10.0
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def router_body(base_url: str, consecutive_failures: int) -> str:
    return f"""default_chain = ["a", "b", "c"]
[router.retry]
attempts_per_model = {ATTEMPTS_PER_MODEL}
backoff_base_s = 0.01
backoff_max_s = 0.02
budget_max_tokens = {BUDGET_MAX_TOKENS}
budget_token_ratio = 0.1
[router.breaker]
consecutive_failures = {consecutive_failures}
min_calls = {consecutive_failures * 10}
# One constant ejection longer than the run: no probes to account for.
base_ejection_s = 60.0
max_ejection_s = 60.0
{openai_models("fake", base_url, MODELS)}"""


@pytest.mark.parametrize(
    "consecutive_failures",
    [pytest.param(3, id="budget-and-breakers"), pytest.param(1_000_000, id="budget-alone")],
)
async def test_retry_storm_stays_within_the_budget(
    tmp_path: Path, consecutive_failures: int
) -> None:
    async with running_upstream() as upstream:
        upstream.set(None, Behavior(status=503))
        async with stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"}) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            router = await s.start(
                "router",
                "router",
                router_section(
                    tmp_path,
                    "router",
                    metrics.port,
                    router_body(upstream.base_url, consecutive_failures),
                ),
            )
            await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
            timed: list[tuple[float, httpx.Response]] = []
            counter = itertools.count()
            async with httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            ) as http:

                async def worker() -> None:
                    while next(counter) < REQUESTS:
                        began = time.monotonic()
                        reply = await http.post("/v1/chat/completions", json=BODY)
                        timed.append((time.monotonic() - began, reply))

                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            health = await model_health(router.port)

    calls = len(upstream.requests)
    # Unthrottled, each request would try every model attempts_per_model times. Each model's
    # budget (gRFC A6) allows retries of that model only while more than half its tokens are
    # left, and every failed attempt on it takes one: at most max/2 retries per model, plus one
    # per request racing in before the failures were counted; first attempts on each model are
    # never refused. The breakers cap it further: each model is called until
    # consecutive_failures failures in a row open it, plus whatever was already in flight.
    unthrottled = REQUESTS * len(MODELS) * ATTEMPTS_PER_MODEL
    budget_bound = len(MODELS) * (REQUESTS + BUDGET_MAX_TOKENS / 2 + CONCURRENCY)
    breaker_bound = len(MODELS) * (consecutive_failures + CONCURRENCY)
    assert calls <= min(budget_bound, breaker_bound), (calls, budget_bound, breaker_bound)
    assert calls < unthrottled / 2.5

    statuses = {reply.status_code for _, reply in timed}
    assert statuses == {503}
    # Once the breakers are open, answers come at once and say when to retry.
    late = timed[len(timed) // 10 :]
    assert all("retry-after" in reply.headers for _, reply in late)
    assert all(int(reply.headers["retry-after"]) >= 1 for _, reply in late)
    assert max(duration for duration, _ in late) < 1.0  # about 0.1 s; slack for a busy CI
    if breaker_bound < budget_bound:
        assert {h.breaker_state for h in health.values()} == {admin_pb.BREAKER_STATE_OPEN}

    codes = {reply.json()["error"]["code"] for _, reply in late}
    print(
        f"\nretry storm ({consecutive_failures=}): {REQUESTS} client requests -> "
        f"{calls} upstream calls "
        f"(ratio {calls / REQUESTS:.3f}; budget bound {budget_bound / REQUESTS:.3f}, breaker "
        f"bound {breaker_bound / REQUESTS:.3f}, unthrottled {unthrottled / REQUESTS:.0f}); "
        f"late answers {codes}, slowest {max(d for d, _ in late) * 1000:.0f} ms"
    )
