"""Fixtures: a fake RouterService on a real gRPC server, the real gateway on port 0, a client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway import GatewayConfig, RunningGateway, start
from llmrouter.serving import start_grpc_server
from llmrouter.v1 import router_service_pb2, router_service_pb2_grpc

from .support import FakeRouter, StartGateway

ROUTER_SERVICE = router_service_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name


@pytest.fixture
async def router() -> AsyncIterator[FakeRouter]:
    """The fake router, served by a real ``grpc.aio`` server on a free port."""
    fake = FakeRouter()
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: router_service_pb2_grpc.add_RouterServiceServicer_to_server(fake, s),
        [ROUTER_SERVICE],
    )
    fake.port = server.port
    yield fake
    fake.release.set()
    await server.stop(0)


@pytest.fixture
def gateway_config(router: FakeRouter) -> GatewayConfig:
    """A gateway config on a free port, pointing at the fake router."""
    return GatewayConfig(
        port=0,
        router_address=f"127.0.0.1:{router.port}",
        request_timeout_s=30.0,
        shutdown_grace_s=5.0,
    )


@pytest.fixture
async def start_gateway(gateway_config: GatewayConfig) -> AsyncIterator[StartGateway]:
    """Start a real gateway with ``gateway_config`` changed by keyword overrides."""
    running: list[RunningGateway] = []

    async def start_one(**overrides: Any) -> RunningGateway:
        gateway = await start(dataclasses.replace(gateway_config, **overrides))
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
    """An HTTP client for ``gateway``."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0) as http:
        yield http
