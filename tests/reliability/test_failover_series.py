"""Failing models never cost a client error while a healthy one is configured (issue 15).

One stack (metrics, router, gateway as real processes) serves a series of fault scenarios one
after another, so every scenario inherits the retry budgets, breakers and health the previous
ones left: a chain of a model that always answers 503 and one that always answers 429; a model
that fails one call in three; then, each on its own primary, a persistent 503, TCP resets, a
silent upstream and a slow first token. The healthy fallback serves every request, and a
timeout costs one wait, not two. Then, on the same router, a failure-heavy chain under 16
concurrent clients serves 100 % of 1,000 requests.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.fakes.fault_proxy import Fault, FaultProxy, running_proxy

from .stack import (
    Stack,
    gateway_section,
    metrics_section,
    openai_models,
    router_section,
    scaled,
    stack,
)

KEY = "sk-reliability-series-0123456789"
TIMEOUT_S = 0.5  # attempt_timeout_s and ttft_timeout_s
CHAINS = {
    "three": ["a503", "b429", "h"],
    "flaky": ["third", "h"],
    "persistent": ["p503", "h"],
    "reset": ["preset", "h"],
    "silent": ["psilent", "h"],
    "slow": ["pslow", "h"],
    "heavy": ["a503", "b429", "preset", "third", "h"],
}
DIRECT = ("a503", "b429", "third", "p503", "psilent", "pslow", "h")
# Every third call of "third" fails; queued far beyond what the test sends (the last repeats).
ONE_IN_THREE = [Behavior(status=503), Behavior(), Behavior()] * 2000
RESETS = {Fault("reset", after_bytes=0): 0.5, Fault("reset", after_bytes=120): 0.5}
HEAVY_MIX = {
    Fault("reset", after_bytes=0): 0.3,
    Fault("truncate", after_bytes=60): 0.2,
    Fault("stall"): 0.1,
    Fault("pass"): 0.4,
}


def router_body(upstream: FakeUpstream, proxy: FaultProxy) -> str:
    categories = "".join(
        f'[[router.categories]]\nname = "{name}"\nchain = {chain!r}\n'.replace("'", '"')
        for name, chain in CHAINS.items()
    )
    # Only keys main also knows: the defaults of the retry budget and the breaker are the
    # ones under test.
    return f"""default_chain = ["h"]
[router.retry]
attempts_per_model = 2
backoff_base_s = 0.01
backoff_max_s = 0.05
attempt_timeout_s = {TIMEOUT_S}
ttft_timeout_s = {TIMEOUT_S}
{categories}{openai_models("up", upstream.base_url, DIRECT)}{
        openai_models("px", proxy.base_url, ["preset"])
    }"""


async def start_stack(s: Stack, tmp: Path, upstream: FakeUpstream, proxy: FaultProxy) -> None:
    metrics = await s.start("metrics", "metrics", metrics_section(tmp))
    router = await s.start(
        "router",
        "router",
        router_section(tmp, "router", metrics.port, router_body(upstream, proxy)),
    )
    await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))


def calls(model: str, upstream: FakeUpstream, proxy: FaultProxy) -> int:
    """Calls that reached ``model`` so far."""
    return upstream.calls(model) if model in DIRECT else proxy.applied.total()


async def ask(http: httpx.AsyncClient, category: str, *, stream: bool = False) -> dict[str, Any]:
    """One chat request; what the client saw: status, serving model, seconds, body."""
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "hello"}],
        "llmrouter": {"category": category},
        "stream": stream,
    }
    began = time.monotonic()
    reply = await http.post("/v1/chat/completions", json=body)
    return {
        "status": reply.status_code,
        "model": reply.headers.get("x-llmrouter-model", ""),
        "seconds": time.monotonic() - began,
        "text": reply.text,
    }


REQUESTS = scaled(1000, 10000)
CONCURRENCY = 16


async def heavy(http: httpx.AsyncClient) -> tuple[list[dict[str, Any]], float]:
    """REQUESTS requests on the failure-heavy chain from CONCURRENCY clients (a quarter
    streamed): what each client saw, and the seconds it all took."""
    replies: list[dict[str, Any]] = []
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < REQUESTS:
            replies.append(await ask(http, "heavy", stream=i % 4 == 0))

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return replies, time.monotonic() - began


async def test_a_series_of_faults_never_fails_a_client(tmp_path: Path) -> None:
    async with AsyncExitStack() as exits:
        upstream = await exits.enter_async_context(running_upstream())
        proxy = await exits.enter_async_context(running_proxy(upstream.base_url, seed=15))
        upstream.set("a503", Behavior(status=503))
        upstream.set("b429", Behavior(status=429))
        upstream.set("third", *ONE_IN_THREE * 5)
        upstream.set("p503", Behavior(status=503))
        upstream.set("psilent", Behavior(stall=True))
        upstream.set("pslow", Behavior(first_chunk_delay_s=5))
        proxy.mix(RESETS)
        s = await exits.enter_async_context(
            stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"})
        )
        await start_stack(s, tmp_path, upstream, proxy)
        http = await exits.enter_async_context(
            httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            )
        )
        seen: dict[str, list[dict[str, Any]]] = {}
        for scenario, count, stream in [
            ("three", 30, False),
            ("flaky", 36, False),
            ("persistent", 12, False),
            ("reset", 12, False),
            ("silent", 6, False),
            ("slow", 6, True),
        ]:
            primary = CHAINS[scenario][0]
            called_before = calls(primary, upstream, proxy)
            replies = seen[scenario] = [
                await ask(http, scenario, stream=stream) for _ in range(count)
            ]
            failed = [(r["status"], r["text"][:200]) for r in replies if r["status"] != 200]
            assert not failed, (scenario, failed[:3])
            served = Counter(r["model"] for r in replies)
            assert set(served) <= {"h", primary}, (scenario, served)
            # The scenario's fault was met: its primary was called, not only skipped.
            assert calls(primary, upstream, proxy) > called_before, scenario
        # Last, on the same router (with the budgets, breakers and ejection counts the series
        # left): the failure-heavy chain under concurrent clients.
        proxy.mix(HEAVY_MIX)
        before = {m: calls(m, upstream, proxy) for m in CHAINS["heavy"]}
        heavy_replies, elapsed = await heavy(http)
        called = {m: calls(m, upstream, proxy) - before[m] for m in CHAINS["heavy"]}

    assert all("[DONE]" in r["text"] for r in seen["slow"])
    # A timeout moves to the next model at once: one wait, then the fallback (a retry of the
    # late model would make it two).
    for scenario in ("silent", "slow"):
        slowest = max(r["seconds"] for r in seen[scenario])
        assert slowest < 2 * TIMEOUT_S, (scenario, slowest)
    statuses = Counter(r["status"] for r in heavy_replies)
    assert statuses == {200: REQUESTS}, statuses
    served = Counter(r["model"] for r in heavy_replies)
    assert served["h"] > 0
    # The failing models were still met (probes of ejected ones, retries while budgets allow).
    assert all(called[m] > 0 for m in ("a503", "b429", "third")), called
    print(
        "\nfailover series: "
        + "; ".join(
            f"{name}: {len(replies)} x 200 ({dict(Counter(r['model'] for r in replies))})"
            for name, replies in seen.items()
        )
        + f"\nthen the failure-heavy chain: {REQUESTS} requests in {elapsed:.1f} s, "
        f"{statuses[200] / REQUESTS:.0%} served ({dict(served)}); upstream calls {called}"
    )
