"""A model's rpm quota through three real router processes sharing the machine's Redis,
behind one gateway that spreads calls over them: the quota holds across the routers (its
upstream sees exactly rpm requests, never enough to answer 429), the rest is served by the
next model of the chain (the client sees success, marked as a fallback), and with Redis cut
off every router keeps serving on its share of the quota."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai
import pytest
import pytest_asyncio

from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream
from tests.fakes.upstream import running_upstream
from tests.tcp_cut import CuttableProxy

from .stack import Stack, gateway_section, metrics_section, router_section, stack

RPM = 3
ROUTERS = 3

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Quotas:
    stack: Stack
    upstream: FakeUpstream
    redis: CuttableProxy
    prometheus_port: int

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.stack.url}/v1", api_key="x", max_retries=0)


def _models(base_url: str) -> str:
    return f"""
[[router.providers]]
name = "upstream"
kind = "openai"
base_url = "{base_url}/v1"

[[router.models]]
name = "quota-a"
provider = "upstream"
input_price_per_million = 1.0
output_price_per_million = 2.0
rpm = {RPM}

[[router.models]]
name = "quota-b"
provider = "upstream"
input_price_per_million = 1.0
output_price_per_million = 2.0
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def quotas(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Quotas]:
    tmp = tmp_path_factory.mktemp("quotas")
    redis = CuttableProxy("127.0.0.1", 6379)
    await redis.start()
    state = f"""
[state]
backend = "redis"
redis_url = "redis://127.0.0.1:{redis.port}/0"
key_prefix = "llmrouter-test:{uuid.uuid4().hex}:"
"""
    prometheus_port = free_port()
    try:
        async with running_upstream() as upstream, stack(tmp) as s:
            # The provider's own limit: a fourth request within the minute would get 429.
            upstream.set("quota-a", *[Behavior()] * RPM, Behavior(status=429, retry_after="60"))
            metrics = await s.start("metrics", "metrics", metrics_section(tmp))
            body = f'default_chain = ["quota-a", "quota-b"]\nrate_limit_replicas = {ROUTERS}\n'
            ports = []
            for n in range(ROUTERS):
                section = router_section(
                    tmp, f"r{n}", metrics.port, body + _models(upstream.base_url)
                )
                env = {"LLMROUTER_ROUTER_PROMETHEUS_PORT": str(prometheus_port)} if n == 0 else {}
                router = await s.start(f"router{n}", "router", section + state, env=env)
                ports.append(router.port)
            await s.start(
                "gateway", "gateway", gateway_section(ports, metrics.port, "auth_enabled = false")
            )
            yield Quotas(s, upstream, redis, prometheus_port)
    finally:
        await redis.stop()


async def test_a_model_quota_holds_across_routers_and_the_chain_serves_the_rest(
    quotas: Quotas,
) -> None:
    client = quotas.client()
    served = []
    for _ in range(3 * ROUTERS):  # every router gets several requests
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
        served.append((raw.headers["x-llmrouter-model"], raw.headers["x-llmrouter-fallback"]))
    assert served[:RPM] == [("quota-a", "false")] * RPM
    assert served[RPM:] == [("quota-b", "true")] * (3 * ROUTERS - RPM)
    assert quotas.upstream.calls("quota-a") == RPM  # never the request it would answer 429
    async with httpx.AsyncClient() as http:
        decision = (
            await http.post(
                f"{quotas.stack.url}/v1/route",
                json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
            )
        ).json()
    assert [c["model"] for c in decision["candidates"]] == ["quota-b"]
    (skipped,) = decision["skipped"]
    assert skipped["model"] == "quota-a"
    assert skipped["reason"] == "rate_limit"
    assert skipped["detail"].startswith(f"model quota-a quota {RPM} RPM reached")


async def test_without_redis_every_router_serves_on_its_share(quotas: Quotas) -> None:
    before = quotas.upstream.calls("quota-a")
    await quotas.redis.cut()
    try:
        client = quotas.client()
        for _ in range(2 * ROUTERS):
            answer = await client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "hi"}]
            )
            assert answer.model in ("quota-a", "quota-b")
        # Each router's share is RPM // ROUTERS = 1 request of quota-a.
        assert quotas.upstream.calls("quota-a") - before <= ROUTERS
        for n in range(ROUTERS):
            log = quotas.stack.services[f"router{n}"].log()
            assert log.count("rate limits: the shared store did not answer") == 1, log
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{quotas.prometheus_port}/metrics")).text
        (line,) = [
            x for x in text.splitlines() if x.startswith("llmrouter_rate_limit_fallbacks_total")
        ]
        assert float(line.split()[-1]) >= 2
    finally:
        await quotas.redis.restore()
