"""Usage delivery survives a metrics outage: kill the metrics process mid-run, restart it,
and every served attempt is in the ledger exactly once.

(Moved here from tests/integration/test_usage_delivery.py; ``make soak`` runs it at 10x.)"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc
from router_svc.config import ModelConfig, ProviderConfig, RetryConfig, RouterConfig
from router_svc.server import start
from tests.conftest import free_port
from tests.fakes import Behavior, running_upstream

from .stack import scaled

REQUESTS = scaled(1000, 10_000)
CONCURRENCY = 10


def start_metrics(port: int, db: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env["LLMROUTER_METRICS_PORT"] = str(port)
    env["LLMROUTER_METRICS_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    env["LLMROUTER_METRICS_PROMETHEUS_PORT"] = "0"
    return subprocess.Popen([sys.executable, "-m", "metrics_svc"], env=env, stderr=subprocess.PIPE)


async def wait_serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        async with asyncio.timeout(30):
            while True:
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.05)


async def test_metrics_killed_for_the_middle_third(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "metrics.sqlite3"
    metrics = start_metrics(port, db)
    await wait_serving(port)
    async with running_upstream() as upstream:
        # Every third call to "flaky" fails, so some requests make two attempts.
        upstream.set(
            "flaky",
            *[Behavior(status=503) if i % 3 == 0 else Behavior() for i in range(REQUESTS * 3 // 2)],
        )
        config = replace(
            RouterConfig(),
            port=0,
            prometheus_port=0,
            metrics_address=f"127.0.0.1:{port}",
            outbox_path=str(tmp_path / "outbox.sqlite3"),
            state_path=str(tmp_path / "state.json"),
            outbox_flush_interval_ms=20,
            allowed_private_hosts=("127.0.0.1",),  # the fake upstream
            providers=(
                ProviderConfig(name="sim", kind="simulated", local=True),
                ProviderConfig(name="fake", kind="openai", base_url=f"{upstream.base_url}/v1"),
            ),
            models=(
                ModelConfig(
                    name="flaky",
                    provider="fake",
                    input_price_per_million=1.0,
                    output_price_per_million=3.0,
                ),
                ModelConfig(name="sim-small", provider="sim"),
            ),
            default_chain=("flaky", "sim-small"),
            retry=RetryConfig(attempts_per_model=1, budget_max_tokens=1e9),
        )
        router = await start(config)
        served: list[router_service_pb2.CompleteResponse] = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel:
                stub = router_service_pb2_grpc.RouterServiceStub(channel)
                queue: asyncio.Queue[int] = asyncio.Queue()
                for i in range(REQUESTS):
                    queue.put_nowait(i)

                async def worker() -> None:
                    nonlocal metrics
                    while not queue.empty():
                        i = queue.get_nowait()
                        if i == REQUESTS // 3:
                            metrics.send_signal(signal.SIGKILL)
                            metrics.wait()
                        if i == 2 * REQUESTS // 3:
                            metrics = start_metrics(port, db)
                        request = chat_pb2.ChatRequest(
                            messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=f"q{i}")]
                        )
                        served.append(
                            await stub.Complete(router_service_pb2.CompleteRequest(chat=request))
                        )

                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            assert router.outbox.stats.ship_failures > 0  # the outage was real
            await wait_serving(port)
            await router.outbox.flush(timeout_s=60)
        finally:
            await router.stop(grace=1)
            metrics.send_signal(signal.SIGTERM)
            metrics.wait(timeout=30)

    expected = {f"{r.id}:{a.number}" for r in served for a in r.attempts}
    assert len(served) == REQUESTS
    assert len(expected) > REQUESTS  # some requests failed over
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, completion_tokens FROM usage_records").fetchall()
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids))  # once
    assert set(ids) == expected  # every served attempt, nothing else
    tokens = sum(a.completion_tokens for a in [r.usage for r in served])
    assert sum(row[1] for row in rows) == tokens
    assert router.outbox.stats.dropped == 0
