"""Under load through the gateway, three providers fault at random behind fault proxies (latency,
resets mid-response, stalls, truncated bodies) and one stays healthy at the end of every chain:
every request succeeds, the ledger holds exactly the attempts the responses report, and the
breakers open and close as configured."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import httpx

from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from llmrouter.v1 import router_admin_service_pb2_grpc
from tests.fakes import running_upstream
from tests.fakes.fault_proxy import Fault, FaultProxy, running_proxy

from .stack import (
    gateway_section,
    metrics_section,
    model_health,
    openai_models,
    router_section,
    scaled,
    stack,
    wait_usage,
)

KEY = "sk-reliability-faults-0123456789"
REQUESTS = scaled(600, 10000)
CONCURRENCY = 16
EJECTION_S = 0.5
CONSECUTIVE_FAILURES = 3
CATEGORIES = {"one": "abcd", "two": "cabd", "three": "bcad"}  # "d" is healthy, last everywhere
# Per request through a faulty proxy: about one in three fails one way or another.
MIX = {
    Fault("pass"): 0.55,
    Fault("latency", delay_s=0.05): 0.1,
    Fault("latency", delay_s=0.2): 0.05,
    Fault("reset", after_bytes=0): 0.08,
    Fault("reset", after_bytes=150): 0.07,
    Fault("truncate", after_bytes=60): 0.05,
    Fault("truncate", after_bytes=200): 0.05,
    Fault("stall"): 0.05,
}
OPEN, CLOSED = admin_pb.BREAKER_STATE_OPEN, admin_pb.BREAKER_STATE_CLOSED


def router_body(proxies: dict[str, FaultProxy], healthy_url: str) -> str:
    categories = "".join(
        f'[[router.categories]]\nname = "{name}"\nchain = {list(chain)!r}\n'.replace("'", '"')
        for name, chain in CATEGORIES.items()
    )
    providers = "".join(
        openai_models(f"p{name}", proxy.base_url, [name]) for name, proxy in proxies.items()
    )
    return f"""default_chain = ["a", "b", "c", "d"]
[router.retry]
attempts_per_model = 2
backoff_base_s = 0.01
backoff_max_s = 0.05
attempt_timeout_s = 0.5
ttft_timeout_s = 1.0
# The retry budgets keep their defaults: per model, they never refuse the healthy "d".
[router.breaker]
consecutive_failures = {CONSECUTIVE_FAILURES}
failure_rate = 0.9
window_s = 5.0
min_calls = 20
# One constant ejection: the probe count below is one per ejection.
base_ejection_s = {EJECTION_S}
max_ejection_s = {EJECTION_S}
half_open_probes = 1
probe_timeout_s = 2.0
{categories}{providers}{openai_models("pd", healthy_url, ["d"])}"""


class BreakerWatch:
    """Polls ListModelHealth and remembers every breaker state each model was seen in."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: dict[str, set[int]] = {}

    async def run(self) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
            while True:
                reply = await stub.ListModelHealth(admin_pb.ListModelHealthRequest(), timeout=5)
                for health in reply.models:
                    self.seen.setdefault(health.model, set()).add(health.breaker_state)
                await asyncio.sleep(0.02)


async def test_random_faults_lose_no_request_and_no_usage(tmp_path: Path) -> None:
    async with AsyncExitStack() as exits:
        upstream = await exits.enter_async_context(running_upstream())
        proxies = {
            name: await exits.enter_async_context(running_proxy(upstream.base_url, seed=i))
            for i, name in enumerate("abc")
        }
        for proxy in proxies.values():
            proxy.mix(MIX)
        s = await exits.enter_async_context(
            stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"})
        )
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start(
            "router",
            "router",
            router_section(
                tmp_path, "router", metrics.port, router_body(proxies, upstream.base_url)
            ),
        )
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))

        watch = BreakerWatch(router.port)
        watcher = asyncio.create_task(watch.run())
        http = await exits.enter_async_context(
            httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            )
        )
        replies: list[httpx.Response] = []
        counter = itertools.count()
        phase_marks: dict[str, tuple[float, int]] = {}

        async def worker() -> None:
            while (i := next(counter)) < REQUESTS:
                if i == REQUESTS // 3:  # phase 2: "c" fails every call
                    proxies["c"].mix({Fault("reset", after_bytes=0): 1})
                    phase_marks["c down"] = (time.monotonic(), proxies["c"].applied.total())
                if i == 2 * REQUESTS // 3:  # phase 3: "c" recovers
                    proxies["c"].mix(None)
                    phase_marks["c up"] = (time.monotonic(), proxies["c"].applied.total())
                category = list(CATEGORIES)[i % len(CATEGORIES)]
                body = {
                    "model": "auto",
                    "messages": [{"role": "user", "content": f"question {i}"}],
                    "llmrouter": {"category": category},
                }
                replies.append(await http.post("/v1/chat/completions", json=body))

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - began

        # Traffic after the ejection lets "c" probe, succeed and close.
        async with asyncio.timeout(10):
            while (await model_health(router.port))["c"].breaker_state != CLOSED:
                await asyncio.sleep(EJECTION_S / 2)
                body = {
                    "model": "auto",
                    "messages": [{"role": "user", "content": "probe"}],
                    "llmrouter": {"category": "two"},
                }
                replies.append(await http.post("/v1/chat/completions", json=body))
        watcher.cancel()

        # 1. Every request succeeded.
        failures = [(r.status_code, r.text) for r in replies if r.status_code != 200]
        assert not failures, failures[:5]
        assert sum(p.applied.total() - p.applied["pass"] for p in proxies.values()) > 50

        # 2. The ledger holds each reported attempt once, and nothing else.
        expected = {
            f"{r.headers['x-request-id']}:{n}"
            for r in replies
            for n in range(1, int(r.headers["x-llmrouter-attempts"]) + 1)
        }
        attempts = sum(int(r.headers["x-llmrouter-attempts"]) for r in replies)
        assert attempts == len(expected) > len(replies)  # some requests failed over
        rows = await wait_usage(s.metrics_db, attempts)
        ids = [row[0] for row in rows]
        assert len(ids) == len(set(ids)) == attempts
        assert set(ids) == expected
        served = {
            f"{r.headers['x-request-id']}:{r.headers['x-llmrouter-attempts']}" for r in replies
        }
        assert {row[0] for row in rows if row[1] == "succeeded"} == served
        tokens = sum(r.json()["usage"]["completion_tokens"] for r in replies)
        assert sum(row[2] for row in rows) == tokens

        # 3. "c" opened while it failed every call, and closed once it recovered; while open it
        #    was called only by probes, one per ejection.
        assert OPEN in watch.seen["c"], watch.seen
        down_at, calls_at_down = phase_marks["c down"]
        up_at, calls_at_up = phase_marks["c up"]
        probes = math.ceil((up_at - down_at) / EJECTION_S) + 1
        assert calls_at_up - calls_at_down <= CONSECUTIVE_FAILURES + CONCURRENCY + probes
        health = await model_health(router.port)
        assert health["c"].breaker_state == CLOSED
        assert health["d"].breaker_state == CLOSED
        assert health["d"].failure_count == 0

    print(
        f"\nfaults: {len(replies)} requests in {elapsed:.1f}s, 100% succeeded; "
        f"{attempts} attempts = {len(rows)} ledger rows; faults injected "
        f"{ {n: dict(p.applied) for n, p in proxies.items()} }; breaker states of c seen "
        f"{sorted(watch.seen['c'])}"
    )
