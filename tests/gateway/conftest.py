"""Fixtures: fake RouterService and MetricsService on real gRPC servers, the real gateway on
port 0 with one API key, and a client presenting that key."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from gateway import ApiKeyConfig, AppOptions, GatewayConfig, RunningGateway, hash_key, start
from llmrouter.serving import start_grpc_server
from llmrouter.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    router_admin_service_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)

from .fake_admin import FakeAdmin
from .fake_metrics import FakeMetrics
from .support import AUTH, TEST_KEY, TEST_KEY_ID, FakeRouter, StartGateway

ROUTER_SERVICE = router_service_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
ADMIN_SERVICE = router_admin_service_pb2.DESCRIPTOR.services_by_name["RouterAdminService"].full_name
METRICS_SERVICE = metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name


@pytest.fixture
def admin() -> FakeAdmin:
    """The fake RouterAdminService, served beside the fake router (as the real one is)."""
    return FakeAdmin()


@pytest.fixture
async def router(admin: FakeAdmin) -> AsyncIterator[FakeRouter]:
    """The fake router, served by a real ``grpc.aio`` server on a free port."""
    fake = FakeRouter()

    def register(server: grpc.aio.Server) -> None:
        router_service_pb2_grpc.add_RouterServiceServicer_to_server(fake, server)
        router_admin_service_pb2_grpc.add_RouterAdminServiceServicer_to_server(admin, server)

    server = await start_grpc_server("127.0.0.1:0", register, [ROUTER_SERVICE, ADMIN_SERVICE])
    fake.port = server.port
    fake.server = server
    yield fake
    fake.release.set()
    await server.stop(0)


@pytest.fixture
async def metrics() -> AsyncIterator[FakeMetrics]:
    """The fake metrics service, served by a real ``grpc.aio`` server on a free port."""
    fake = FakeMetrics()
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(fake, s),
        [METRICS_SERVICE],
    )
    fake.port = server.port
    fake.server = server
    yield fake
    await server.stop(0)


@pytest.fixture
def gateway_config(router: FakeRouter, metrics: FakeMetrics) -> GatewayConfig:
    """A gateway config on a free port, pointing at the fakes, accepting TEST_KEY (admin)."""
    return GatewayConfig(
        port=0,
        router_addresses=(f"127.0.0.1:{router.port}",),
        metrics_address=f"127.0.0.1:{metrics.port}",
        request_timeout_s=30.0,
        shutdown_grace_s=5.0,
        # An admin key: the admin routes and every key's reports are open to it.
        api_keys=(ApiKeyConfig(id=TEST_KEY_ID, sha256=hash_key(TEST_KEY), admin=True),),
    )


@pytest.fixture
async def start_gateway(gateway_config: GatewayConfig) -> AsyncIterator[StartGateway]:
    """Start a real gateway with ``gateway_config`` changed by keyword overrides
    (``options=`` passes AppOptions)."""
    running: list[RunningGateway] = []

    async def start_one(options: AppOptions | None = None, **overrides: Any) -> RunningGateway:
        gateway = await start(dataclasses.replace(gateway_config, **overrides), options)
        running.append(gateway)
        return gateway

    yield start_one
    for gateway in running:
        await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    """The real gateway with the default test config."""
    return await start_gateway()


@pytest.fixture
async def client(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``gateway`` that presents TEST_KEY."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0, headers=AUTH) as http:
        yield http
