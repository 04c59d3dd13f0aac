"""``/readyz``: both services' gRPC health checks, within a short timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmrouter.shared_state import StateConfig
from tests.conftest import free_port

from .fake_metrics import FakeMetrics
from .support import FakeRouter, StartGateway

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HangingHealth(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """A health service that never answers."""

    async def Check(self, request: Any, context: Any) -> Any:
        await asyncio.Event().wait()


@pytest.fixture
async def hanging_port() -> AsyncIterator[int]:
    """A gRPC server whose health check hangs."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(HangingHealth(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(0)


async def test_ready_when_both_serve(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz", headers={"authorization": ""})

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "router": "SERVING",
        "metrics": "SERVING",
        "state": {
            "backend": "embedded",
            "address": "embedded (this process only)",
            "reachable": True,
        },
    }


async def test_router_not_serving_is_503(client: httpx.AsyncClient, router: FakeRouter) -> None:
    assert router.server is not None
    await router.server.health.set("", NOT_SERVING)

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "router": "NOT_SERVING",
        "metrics": "SERVING",
        "state": {
            "backend": "embedded",
            "address": "embedded (this process only)",
            "reachable": True,
        },
        "error": {
            "message": "Not ready: router is NOT_SERVING.",
            "type": "service_unavailable_error",
            "param": None,
            "code": "not_ready",
        },
    }


async def test_metrics_shutting_down_is_503(
    client: httpx.AsyncClient, router: FakeRouter, metrics: FakeMetrics
) -> None:
    assert metrics.server is not None
    await metrics.server.health.enter_graceful_shutdown()

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["metrics"] == "NOT_SERVING"
    assert response.json()["router"] == "SERVING"


async def test_unreachable_services_are_named(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(
        router_addresses=(f"127.0.0.1:{free_port()}",), metrics_address=f"127.0.0.1:{free_port()}"
    )
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert (body["router"], body["metrics"]) == ("UNREACHABLE", "UNREACHABLE")
    assert body["error"]["message"] == ("Not ready: router is UNREACHABLE, metrics is UNREACHABLE.")


async def test_a_hanging_health_check_times_out(
    start_gateway: StartGateway, hanging_port: int
) -> None:
    gateway = await start_gateway(
        metrics_address=f"127.0.0.1:{hanging_port}", readiness_timeout_s=0.3
    )
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        began = time.monotonic()
        response = await http.get("/readyz")
        took = time.monotonic() - began

    assert response.status_code == 503
    assert response.json()["metrics"] == "TIMEOUT"
    assert response.json()["router"] == "SERVING"
    assert took < 2.0


async def test_a_server_without_health_service_is_named(
    start_gateway: StartGateway,
) -> None:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        gateway = await start_gateway(metrics_address=f"127.0.0.1:{port}")
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            response = await http.get("/readyz")
    finally:
        await server.stop(0)

    assert response.status_code == 503
    assert response.json()["metrics"] == "NO_HEALTH_SERVICE"


async def test_the_shared_state_backend_and_its_reachability(start_gateway: StartGateway) -> None:
    """Redis answering, then a Redis nobody listens on: shown, and the gateway stays ready
    (serving goes on without the shared state)."""
    up = StateConfig(backend="redis", redis_url="redis://127.0.0.1:6379/0")
    down = StateConfig(backend="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    bodies = []
    for state in (up, down):
        gateway = await start_gateway(state=state)
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            response = await http.get("/readyz")
        assert response.status_code == 200
        bodies.append(response.json()["state"])
    assert bodies[0] == {
        "backend": "redis",
        "address": "redis (redis://127.0.0.1:6379/0)",
        "reachable": True,
    }
    assert bodies[1]["reachable"] is False
