"""Router test fixtures: a fake metrics service (a real gRPC server) and routers on port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmrouter.telemetry
from llmrouter.serving import GrpcServer, start_grpc_server
from llmrouter.v1 import metrics_service_pb2, metrics_service_pb2_grpc, router_service_pb2_grpc
from router_svc.config import ModelConfig, ProviderConfig, RouterConfig
from router_svc.server import RunningRouter, start
from tests.fakes import FakeUpstream, running_upstream

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Finished spans, in process; tracing is on for the test."""
    # The global provider can be set once per process; our code only emits when enabled.
    trace.set_tracer_provider(_PROVIDER)
    monkeypatch.setattr(llmrouter.telemetry, "_enabled", True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


class FakeMetrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    """Stores records by id like the real service; can be told to fail."""

    def __init__(self) -> None:
        self.records: dict[str, metrics_service_pb2.UsageRecord] = {}
        self.batches = 0
        self.fail_with: grpc.StatusCode | None = None

    async def RecordUsage(
        self, request: metrics_service_pb2.RecordUsageRequest, context: Any
    ) -> metrics_service_pb2.RecordUsageResponse:
        if self.fail_with is not None:
            await context.abort(self.fail_with, "told to fail")
        self.batches += 1
        inserted = 0
        for record in request.records:
            if record.id not in self.records:
                self.records[record.id] = record
                inserted += 1
        return metrics_service_pb2.RecordUsageResponse(
            inserted_count=inserted, duplicate_count=len(request.records) - inserted
        )

    async def QueryQuality(
        self, request: metrics_service_pb2.QueryQualityRequest, context: Any
    ) -> metrics_service_pb2.QueryQualityResponse:
        """No feedback (the router's quality estimates read this every few seconds)."""
        return metrics_service_pb2.QueryQualityResponse()


@pytest.fixture
async def fake_metrics() -> AsyncIterator[tuple[FakeMetrics, GrpcServer]]:
    servicer = FakeMetrics()
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, s),
        ["llmrouter.v1.MetricsService"],
    )
    yield servicer, server
    await server.stop(0)


@pytest.fixture
def router_config(tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]) -> RouterConfig:
    return replace(
        RouterConfig(),
        port=0,
        prometheus_port=0,
        metrics_address=f"127.0.0.1:{fake_metrics[1].port}",
        outbox_path=str(tmp_path / "outbox.sqlite3"),
        # The admin store lives beside it: never the checkout's data/ (shared by every test).
        state_path=str(tmp_path / "state.json"),
        outbox_flush_interval_ms=20,
    )


@pytest.fixture
async def router(router_config: RouterConfig) -> AsyncIterator[RunningRouter]:
    running = await start(router_config)
    yield running
    await running.stop(grace=1)


@pytest.fixture
async def router_channel(router: RunningRouter) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel:
        yield channel


async def wait_for(predicate: Any, within: float = 5.0) -> None:
    """Poll ``predicate`` until true (background delivery in tests)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by another task
            await asyncio.sleep(0.01)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as fake:
        yield fake


def fake_providers(upstream: FakeUpstream) -> tuple[ProviderConfig, ...]:
    """One provider per wire format, all pointing at the fake upstream."""
    return (
        ProviderConfig(name="oai", kind="openai", base_url=f"{upstream.base_url}/v1"),
        ProviderConfig(
            name="anth",
            kind="anthropic",
            base_url=upstream.base_url,
            api_key_env="LLMROUTER_TEST_ANTHROPIC_KEY",
        ),
        ProviderConfig(name="olla", kind="ollama", base_url=upstream.base_url, local=True),
    )


def model(name: str, provider: str = "oai", **kwargs: Any) -> ModelConfig:
    """A registry model with test-friendly defaults (tools, big window, free)."""
    fields: dict[str, Any] = dict(
        tools=True,
        context_window=100_000,
        input_price_per_million=1.0,
        output_price_per_million=2.0,
    )
    fields.update(kwargs)
    return ModelConfig(name=name, provider=provider, **fields)


@pytest.fixture
async def make_router(
    tmp_path: Path,
    fake_metrics: tuple[FakeMetrics, GrpcServer],
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Start routers over the fake upstream: ``await make_router(models, chain, **overrides)``."""
    monkeypatch.setenv("LLMROUTER_TEST_ANTHROPIC_KEY", "test-key-not-secret")
    started: list[RunningRouter] = []

    async def factory(
        models: tuple[ModelConfig, ...], chain: tuple[str, ...], **overrides: Any
    ) -> tuple[RunningRouter, router_service_pb2_grpc.RouterServiceStub]:
        fields: dict[str, Any] = dict(
            port=0,
            prometheus_port=0,
            metrics_address=f"127.0.0.1:{fake_metrics[1].port}",
            outbox_path=str(tmp_path / f"outbox{len(started)}.sqlite3"),
            state_path=str(tmp_path / "state.json"),
            outbox_flush_interval_ms=20,
            providers=fake_providers(upstream),
            allowed_private_hosts=("127.0.0.1",),  # the fake upstream
            models=models,
            default_chain=chain,
        )
        fields.update(overrides)
        config = replace(RouterConfig(), **fields)
        running = await start(config)
        started.append(running)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        channels.append(channel)
        return running, router_service_pb2_grpc.RouterServiceStub(channel)

    channels: list[grpc.aio.Channel] = []
    yield factory
    for channel in channels:
        await channel.close()
    for running in started:
        await running.stop(grace=1)
