"""A crashed router's budget reservation expires: two router processes share the machine's
Redis; one reserves a request's worst case against a key's budget (its upstream never answers)
and is killed with SIGKILL, so nothing ever settles it. The other replica sees the room held
until the reservation's deadline (``budget_reservation_ttl_s``), then free again."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import grpc
import pytest

from llmrouter.v1 import (
    chat_pb2,
    router_admin_service_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)
from tests.fakes import Behavior
from tests.fakes.upstream import running_upstream

from .stack import metrics_section, router_section, stack

TTL_S = 3.0


def _body(base_url: str) -> str:
    return f"""default_chain = ["a"]
budget_reservation_ttl_s = {TTL_S}
budget_reconcile_interval_s = 0

[[router.providers]]
name = "upstream"
kind = "openai"
base_url = "{base_url}/v1"

[[router.models]]
name = "a"
provider = "upstream"
input_price_per_million = 1000.0
output_price_per_million = 2000.0

[[router.budgets]]
id = "alice-daily"
scope = "key"
subject = "alice"
period = "day"
hard_usd = 1.0
"""


async def _reserved(port: int) -> float:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        reply = await stub.ListBudgets(router_admin_service_pb2.ListBudgetsRequest(), timeout=5)
    (budget,) = reply.budgets
    return budget.reserved_usd


async def test_a_killed_replicas_reservation_stops_counting_at_its_deadline(
    tmp_path: Path,
) -> None:
    state = f"""
[state]
backend = "redis"
redis_url = "redis://127.0.0.1:6379/0"
key_prefix = "llmrouter-test:{uuid.uuid4().hex}:"
operation_timeout_ms = 5000
"""
    tmp = tmp_path
    async with running_upstream() as upstream, stack(tmp) as s:
        upstream.set("a", Behavior(stall=True))
        metrics = await s.start("metrics", "metrics", metrics_section(tmp))
        doomed, survivor = [
            await s.start(
                name,
                "router",
                router_section(tmp, name, metrics.port, _body(upstream.base_url)) + state,
            )
            for name in ("doomed", "survivor")
        ]
        request = router_service_pb2.CompleteRequest(
            chat=chat_pb2.ChatRequest(
                model="auto",
                messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")],
                max_tokens=100,
                caller=chat_pb2.Caller(api_key_id="alice"),
            )
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{doomed.port}") as channel:
            call = router_service_pb2_grpc.RouterServiceStub(channel).Complete(request, timeout=30)
            await upstream.wait_requests(1, within_s=10)  # reserved, then sent
            held = await _reserved(survivor.port)
            assert held >= 100 * 0.002  # the worst case: 100 output tokens at $2/1K
            await doomed.stop(signal.SIGKILL)
            with pytest.raises(grpc.aio.AioRpcError):
                await call
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        # Still held just after the crash: nothing settled it...
        assert await _reserved(survivor.port) == pytest.approx(held)
        # ...until its deadline passes.
        async with asyncio.timeout(TTL_S + 5):
            while await _reserved(survivor.port) > 0:  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.1)
        assert loop.time() - killed_at <= TTL_S + 1
