"""A router replica restarts under streaming load: the gateway spreads calls over two router
processes; one gets SIGTERM. It turns NOT_SERVING at once, finishes its in-flight streams, the
gateway moves new calls to the other replica, and no client sees an error."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.fakes import Behavior, running_upstream

from .stack import gateway_section, metrics_section, router_section, scaled, stack, wait_usage

KEY = "sk-reliability-restart-0123456789"
CONCURRENCY = 12
LOAD_S = scaled(5, 60)
STOP_AT_S = 1.5
DRAIN_DELAY_S = 1.0
BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "tell me"}]}


def replica(name: str, base_url: str) -> str:
    return f"""shutdown_grace_s = 10.0
default_chain = ["m"]
[[router.providers]]
name = "up-{name}"
kind = "openai"
base_url = "{base_url}/v1"
[[router.models]]
name = "m"
provider = "up-{name}"
upstream_model = "m-{name}"
input_price_per_million = 1.0
output_price_per_million = 2.0
"""


@dataclass
class Outcome:
    started: float
    status: int
    replica: str
    attempts: int
    complete: bool
    request_id: str


async def stream_once(http: httpx.AsyncClient) -> Outcome:
    started = time.monotonic()
    async with http.stream("POST", "/v1/chat/completions", json=BODY) as reply:
        lines = [line async for line in reply.aiter_lines() if line]
    complete = bool(lines) and lines[-1] == "data: [DONE]" and '"error"' not in "".join(lines)
    return Outcome(
        started,
        reply.status_code,
        reply.headers.get("x-llmrouter-provider", ""),
        int(reply.headers.get("x-llmrouter-attempts", "0")),
        complete,
        reply.headers.get("x-request-id", ""),
    )


async def health_of(port: int) -> int | None:
    """The router's overall health status, or None once it no longer answers."""
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=0.5
            )
    except grpc.aio.AioRpcError:
        return None
    return int(reply.status)


async def test_sigterm_to_one_replica_under_streaming_load(tmp_path: Path) -> None:
    async with running_upstream() as upstream:
        # Streams of about one second, so SIGTERM always finds some in flight.
        upstream.set(None, Behavior(chunks=10, chunk_delay_s=0.1))
        async with stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"}) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            r1, r2 = [
                await s.start(
                    name,
                    "router",
                    router_section(
                        tmp_path,
                        name,
                        metrics.port,
                        replica(name, upstream.base_url),
                        drain_delay_s=DRAIN_DELAY_S,
                    ),
                )
                for name in ("r1", "r2")
            ]
            await s.start("gateway", "gateway", gateway_section([r1.port, r2.port], metrics.port))

            outcomes: list[Outcome] = []
            errors: list[str] = []
            health_seen: list[int | None] = []
            loop = asyncio.get_running_loop()
            began = loop.time()
            async with httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            ) as http:

                async def worker() -> None:
                    while loop.time() - began < LOAD_S:
                        try:
                            outcomes.append(await stream_once(http))
                        except httpx.HTTPError as exc:
                            errors.append(repr(exc))

                async def restart() -> float:
                    await asyncio.sleep(STOP_AT_S)
                    stopped_at = time.monotonic()
                    exiting = asyncio.create_task(r1.stop())
                    while not exiting.done():
                        health_seen.append(await health_of(r1.port))
                        await asyncio.sleep(0.05)
                    assert await exiting == 0, r1.log()
                    return stopped_at

                *_, stopped_at = await asyncio.gather(
                    *(worker() for _ in range(CONCURRENCY)), restart()
                )
            attempts = sum(o.attempts for o in outcomes)
            rows = await wait_usage(s.metrics_db, attempts)

    failed = [o for o in outcomes if o.status != 200 or not o.complete]
    assert not errors, errors[:3]
    assert not failed, failed[:3]
    in_flight = [o for o in outcomes if o.replica == "up-r1" and o.started < stopped_at]
    assert in_flight  # r1 had streams running when told to stop, and finished them
    late = [o for o in outcomes if o.started > stopped_at + 0.5]
    assert late
    assert {o.replica for o in late} == {"up-r2"}
    # The upstream saw no new request from r1 once its drain began.
    r1_after = [r for r in upstream.requests if r.model == "m-r1" and r.time > stopped_at + 0.5]
    assert not r1_after
    assert health_pb2.HealthCheckResponse.NOT_SERVING in health_seen, health_seen
    # Usage of both replicas, r1's flushed as it stopped, is all in the ledger.
    assert len({row[0] for row in rows}) == attempts == len(rows)

    print(
        f"\nrestart: {len(outcomes)} streams, {len(in_flight)} in flight on r1 at SIGTERM, "
        f"{len(late)} later ones all on r2, client-visible errors: {len(errors) + len(failed)}; "
        f"r1 health while stopping: {sorted({str(h) for h in health_seen})}"
    )
