"""router.max_connection_age_s: clients are moved to a new connection (and so resolve the
router's name again) without any call in flight being cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest

from llmrouter.config import ConfigError
from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc
from router_svc.config import ProviderConfig, RouterConfig
from router_svc.config import load_config as load_router_config
from router_svc.server import RunningRouter, start

# 24 words, one chunk each, this far apart: a stream of ~1.2 s.
CHUNK_DELAY_MS = 50.0
AGE_S = 0.2


def _slow(config: RouterConfig, age_s: float) -> RouterConfig:
    provider = ProviderConfig(
        name="simulated",
        kind="simulated",
        local=True,
        latency_ms=1.0,
        chunk_delay_ms=CHUNK_DELAY_MS,
    )
    return replace(config, providers=(provider,), max_connection_age_s=age_s)


@pytest.fixture
async def aged_router(router_config: RouterConfig) -> AsyncIterator[RunningRouter]:
    running = await start(_slow(router_config, AGE_S))
    yield running
    await running.stop(grace=1)


def _request() -> router_service_pb2.StreamCompleteRequest:
    chat = chat_pb2.ChatRequest(
        model="sim-small", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")]
    )
    return router_service_pb2.StreamCompleteRequest(chat=chat)


async def _stream(stub: router_service_pb2_grpc.RouterServiceStub) -> list[str]:
    return [
        str(chunk.WhichOneof("chunk"))
        async for chunk in stub.StreamComplete(_request(), timeout=20)
    ]


async def _until_not_ready(channel: grpc.aio.Channel, within_s: float) -> float:
    """Seconds until the channel leaves READY (the server's GOAWAY closed the connection)."""
    started = time.monotonic()
    async with asyncio.timeout(within_s):
        while channel.get_state() == grpc.ChannelConnectivity.READY:
            await channel.wait_for_state_change(grpc.ChannelConnectivity.READY)
    return time.monotonic() - started


async def test_streams_outlive_the_connection_age(aged_router: RunningRouter) -> None:
    """A stream six times longer than the age ends with its summary; once it has, the
    connection closes, and the next call opens a new one and is answered."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{aged_router.port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        started = time.monotonic()
        kinds = await _stream(stub)
        assert time.monotonic() - started > 5 * AGE_S
        assert kinds[0] == "start"
        assert kinds[-1] == "summary"
        assert kinds.count("delta") == 24
        await _until_not_ready(channel, within_s=5)
        kinds = await _stream(stub)
        assert kinds[-1] == "summary"


async def test_an_idle_connection_is_renewed_after_the_age(aged_router: RunningRouter) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{aged_router.port}") as channel:
        await channel.channel_ready()
        waited = await _until_not_ready(channel, within_s=5)
        assert waited < 1.5 * AGE_S + 0.5


async def test_without_an_age_the_connection_stays(router_config: RouterConfig) -> None:
    running = await start(_slow(router_config, 0.0))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            await channel.channel_ready()
            with pytest.raises(TimeoutError):
                await _until_not_ready(channel, within_s=5 * AGE_S)
    finally:
        await running.stop(grace=1)


def test_a_negative_age_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"router\.max_connection_age_s: must not be negative"):
        load_router_config(None, document={"router": {"max_connection_age_s": -1.0}}, environ={})
    config = load_router_config(
        None, document={}, environ={"LLMROUTER_ROUTER_MAX_CONNECTION_AGE_S": "60"}
    )
    assert config.max_connection_age_s == 60.0
