"""SIGKILL of Redis under load, with real processes: serving continues with no client error.

A redis-server of the test's own (never the machine's Redis on 6379) is the ``[state]`` of a
metrics service, two router replicas and two gateways: per-key limits at the gateways, a
model quota at the routers (both far above the load, so a refusal would be a bug), breakers
shared, and some requests opting in to the response cache. Eight clients (the official
``openai`` SDK, no retries) send streamed and whole chat completions through both gateways
while Redis is SIGKILLed: every request is answered 200 with content, each gateway's
``/readyz`` stays 200 and says the state is unreachable, and the fallback counters of the
limits and of the shared breakers rise. Redis restarted on the same port: both routers
subscribe again, a model switched off through one router is skipped by the other within a
second, and limits are counted in Redis again.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
import redis.asyncio as redis_asyncio

from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream, running_upstream

from .stack import Stack, gateway_section, metrics_section, openai_models, router_section, stack
from .test_admin_replicas import candidates, switch_off_m1

REDIS_SERVER = "/usr/bin/redis-server"
KEYS = {"alice": "sk-alice-outage-0123456789", "bob": "sk-bob-outage-0123456789"}
CLIENTS = 8
LOAD_BEFORE_S = 2.0  # load before the kill
LOAD_DURING_S = 3.0  # load while Redis is dead
PUSH_WITHIN_S = 1.0
# The routers' pub/sub reconnects with a backoff of at most 5 s, plus 1 s of polling.
RESUBSCRIBE_WITHIN_S = 10.0


@dataclass
class RedisServer:
    """A redis-server process of this test, on its own port, without persistence."""

    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start (or restart on the same port) and wait until it answers PING."""
        self.process = _spawn_redis(self.port, self.log_path)
        async with asyncio.timeout(10):
            while True:
                assert self.process.poll() is None, self.log_path.read_text()
                try:
                    async with redis_asyncio.Redis.from_url(self.url) as client:
                        if await client.ping():
                            return
                except (redis_asyncio.ConnectionError, OSError):
                    pass
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, connections reset by the kernel."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


def _spawn_redis(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """redis-server on 127.0.0.1:``port``, no RDB or AOF file, its output into ``log_path``."""
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@dataclass
class Outcome:
    """One client request: when it started and ended, and its error (None: 200 with content)."""

    began: float
    ended: float
    stream: bool
    cache: str | None
    error: str | None


@dataclass
class Load:
    """Clients sending requests until told to stop."""

    urls: list[str]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    cache_hit: asyncio.Event = field(default_factory=asyncio.Event)
    outcomes: list[Outcome] = field(default_factory=list)

    async def client(self, index: int) -> None:
        key = KEYS["alice" if index % 2 else "bob"]
        gateways = [
            openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=15)
            for url in self.urls
        ]
        sent = 0
        while not self.stopping.is_set():
            gateway = gateways[(index + sent) % len(gateways)]
            stream = sent % 2 == 1
            cached = sent % 3 == 0  # some requests opt in to the response cache
            began = time.monotonic()
            try:
                content, cache = await _ask(gateway, index, sent, stream=stream, cached=cached)
                error = None if content else "empty content"
            except Exception as exc:  # every kind of failure is what the test counts
                cache, error = None, f"{type(exc).__name__}: {exc}"
            self.outcomes.append(Outcome(began, time.monotonic(), stream, cache, error))
            if cache == "hit":
                self.cache_hit.set()
            sent += 1


async def _ask(
    client: openai.AsyncOpenAI, index: int, sent: int, *, stream: bool, cached: bool
) -> tuple[str, str | None]:
    """One chat completion; its content and its x-llmrouter-cache header."""
    text = "what does redis do?" if cached else f"client {index} request {sent}"
    headers = {"X-LLMRouter-Cache": "on"} if cached else {}
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": text}], extra_headers=headers
        )
        return raw.parse().choices[0].message.content or "", raw.headers.get("x-llmrouter-cache")
    async with client.chat.completions.with_streaming_response.create(
        model="auto",
        messages=[{"role": "user", "content": text}],
        extra_headers=headers,
        stream=True,
    ) as response:
        pieces = [
            chunk.choices[0].delta.content or ""
            async for chunk in await response.parse()
            if chunk.choices
        ]
        return "".join(pieces), response.headers.get("x-llmrouter-cache")


def _keys() -> str:
    entries = ", ".join(
        f'{{ id = "{name}", sha256 = "{hashlib.sha256(key.encode()).hexdigest()}", '
        "rpm = 100000, tpm = 100000000 }"
        for name, key in KEYS.items()
    )
    # No leases: every request asks Redis, so its loss shows in each decision (with a lease of
    # these large limits the gateways would admit this load from their slices, as designed).
    return f"rate_limit_replicas = 2\nrate_limit_lease_percent = 0\napi_keys = [{entries}]"


def _router_body(upstream: FakeUpstream, admin_url: str) -> str:
    models = openai_models("up", upstream.base_url, ["m1", "m2"]).replace(
        'name = "m1"\n', 'name = "m1"\nrpm = 100000\ntpm = 100000000\n'
    )
    return f"""admin_database_url = "{admin_url}"
admin_resync_interval_s = 30
rate_limit_replicas = 2
default_chain = ["m1", "m2"]
[router.breaker]
consecutive_failures = 3
base_ejection_s = 2
{models}"""


async def _metric(url: str, name: str) -> float:
    """The sum of every sample of counter ``name`` at ``url`` (Prometheus text format)."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url)).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith((f"{name} ", f"{name}{{")):
            total += float(line.split()[-1])
    return total


async def _readyz(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{url}/readyz")


async def _subscribers(client: redis_asyncio.Redis, channel: str) -> int:
    ((_, count),) = await client.pubsub_numsub(channel)
    return int(count)


async def test_redis_killed_under_load_serving_goes_on_and_recovers(tmp_path: Path) -> None:
    redis = RedisServer(free_port(), tmp_path / "redis.log")
    await redis.start()
    prefix = f"llmrouter-test:{uuid.uuid4().hex}:"
    state = f'\n[state]\nbackend = "redis"\nredis_url = "{redis.url}"\nkey_prefix = "{prefix}"\n'
    router_metrics = [free_port(), free_port()]
    try:
        async with running_upstream() as upstream, stack(tmp_path) as running:
            upstream.set(None, Behavior(chunk_delay_s=0.005))
            await _start(running, tmp_path, upstream, state, router_metrics)
            gateways = [f"http://127.0.0.1:{running.port(f'gateway{n}')}" for n in (1, 2)]
            routers = [f"http://127.0.0.1:{p}/metrics" for p in router_metrics]
            for url in gateways:
                assert (await _readyz(url)).json()["state"]["reachable"] is True

            load = Load(gateways)
            clients = [asyncio.create_task(load.client(i)) for i in range(CLIENTS)]
            try:
                await asyncio.sleep(LOAD_BEFORE_S)
                await asyncio.wait_for(load.cache_hit.wait(), 20)  # slower on a loaded machine
                before = await _counters(gateways, routers)
                logged = {"before": _outages(running)}
                await redis.kill()
                killed = time.monotonic()
                await asyncio.sleep(LOAD_DURING_S / 2)
                ready = [await _readyz(url) for url in gateways]
                await asyncio.sleep(LOAD_DURING_S / 2)
                during = await _counters(gateways, routers)
                logged["during"] = _outages(running)
            finally:
                load.stopping.set()
                await asyncio.gather(*clients)

            errors = [o.error for o in load.outcomes if o.error]
            assert errors == [], errors[:5]
            after_kill = [o for o in load.outcomes if o.began > killed]
            assert len(after_kill) >= 3 * CLIENTS, len(after_kill)
            assert {o.stream for o in after_kill} == {False, True}
            assert any(o.cache == "hit" for o in load.outcomes if o.ended < killed)
            assert {o.cache for o in after_kill if o.cache} == {"miss"}  # a lost store: misses
            for response in ready:
                assert response.status_code == 200, response.text
                assert response.json()["state"] == {
                    "backend": "redis",
                    "address": f"redis ({redis.url})",
                    "reachable": False,
                }
            # Every limit decision and breaker resync of the outage was counted as such.
            for name, values in during.items():
                assert all(d > b for d, b in zip(values, before[name], strict=True)), (
                    name,
                    before[name],
                    values,
                )

            # Redis is back (empty): both routers subscribe again, a switch is pushed again.
            await redis.start()
            recovered = time.monotonic()
            async with redis_asyncio.Redis.from_url(redis.url) as client:
                while await _subscribers(client, f"{prefix}admin") < 2:
                    assert time.monotonic() - recovered < RESUBSCRIBE_WITHIN_S
                    await asyncio.sleep(0.1)
                resubscribed = time.monotonic() - recovered
                # Limits are counted in Redis again: the first request a second after the
                # outage began asks it again (this Redis started empty, so any key is new).
                async with openai.AsyncOpenAI(
                    base_url=f"{gateways[0]}/v1", api_key=KEYS["alice"], max_retries=0
                ) as sdk:
                    for _ in range(4):
                        await sdk.chat.completions.create(
                            model="auto", messages=[{"role": "user", "content": "back?"}]
                        )
                counted = [k.decode() async for k in client.scan_iter(f"{prefix}ratelimit*")]
                ports = [running.port("router0"), running.port("router1")]
                await switch_off_m1(ports[0])
                began = time.monotonic()
                while "m1" in await candidates(ports[1]):
                    assert time.monotonic() - began < PUSH_WITHIN_S
                    await asyncio.sleep(0.01)
                pushed = time.monotonic() - began
            # Both kinds: alice's key at the gateway, m1's quota at a router.
            assert any("/key/alice/" in k for k in counted), counted
            assert any("/model/m1/" in k for k in counted), counted
            # The outage and its end are logged once per process, not per request.
            # The outage is logged once per process, not once per request (each process got
            # a hundred or so requests); the breakers' store is the routers' only.
            for name, (limits, breakers) in logged["during"].items():
                was = logged["before"][name]
                expected = (1, 1 if name.startswith("router") else 0)
                assert (limits - was[0], breakers - was[1]) == expected, logged
            logs = running.logs()
            for name in ("gateway1", "router0", "router1"):
                assert "rate limits: the shared store answers again" in logs[name], logs[name]
            for url in gateways:
                assert (await _readyz(url)).json()["state"]["reachable"] is True
    finally:
        await redis.stop()
    served = len(load.outcomes)
    print(
        f"\nredis outage: {served} requests served, {len(after_kill)} after the kill, 0 errors; "
        f"routers resubscribed {resubscribed:.1f} s after the restart, switch pushed in "
        f"{pushed * 1000:.0f} ms; counters before/during: {before} / {during}"
    )


async def _start(
    running: Stack, tmp: Path, upstream: FakeUpstream, state: str, metrics_ports: list[int]
) -> None:
    """Metrics, two routers (the first alone: it migrates the admin store), two gateways."""
    metrics = await running.start("metrics", "metrics", metrics_section(tmp))
    body = _router_body(upstream, f"sqlite:///{tmp}/admin.sqlite3")
    router_ports = []
    for n, prometheus in enumerate(metrics_ports):
        section = router_section(tmp, f"router{n}", metrics.port, body) + state
        env = {"LLMROUTER_ROUTER_PROMETHEUS_PORT": str(prometheus)}
        router_ports.append((await running.start(f"router{n}", "router", section, env=env)).port)
    for n in (1, 2):
        section = gateway_section(router_ports, metrics.port, _keys()) + state
        await running.start(f"gateway{n}", "gateway", section)


def _outages(running: Stack) -> dict[str, tuple[int, int]]:
    """Per process, how often it logged an outage of the limits' and of the breakers' store."""
    return {
        name: (
            log.count("rate limits: the shared store did not answer"),
            log.count("shared breakers: state store unavailable"),
        )
        for name, log in running.logs().items()
        if name != "metrics"
    }


async def _counters(gateways: list[str], routers: list[str]) -> dict[str, list[float]]:
    """The fallback counters of every gateway and router, by name."""
    return {
        "llmrouter_gateway_rate_limit_fallbacks_total": [
            await _metric(f"{url}/metrics", "llmrouter_gateway_rate_limit_fallbacks_total")
            for url in gateways
        ],
        "llmrouter_rate_limit_fallbacks_total": [
            await _metric(url, "llmrouter_rate_limit_fallbacks_total") for url in routers
        ],
        "llmrouter_shared_breaker_store_errors_total": [
            await _metric(url, "llmrouter_shared_breaker_store_errors_total") for url in routers
        ],
    }


pytestmark = pytest.mark.timeout(120)
