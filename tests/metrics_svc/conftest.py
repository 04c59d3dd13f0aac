"""Fixtures for the metrics service: a real ledger (SQLite file or PostgreSQL database) behind a
real in-process ``grpc.aio`` server on port 0, reached through a real client channel.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from sqlalchemy.engine import make_url

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.server import RunningMetrics, start

PG_URL_ENV = "LLMROUTER_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

#: Reference prices the test server is configured with (not the defaults, to prove they apply).
REFERENCE_MODEL = "reference-model"
REFERENCE_INPUT_PER_MILLION = 3.0
REFERENCE_OUTPUT_PER_MILLION = 15.0

#: "Now" for the test server's clock; records default to this time.
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A ledger URL nobody else uses: a SQLite file in a new directory, or a new PG database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/ledger/metrics.sqlite3"
        return
    base = make_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if PG_URL_ENV in os.environ:
            pytest.fail(f"{PG_URL_ENV} is set but PostgreSQL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {DEFAULT_PG_URL}: {exc}")
    name = f"llmrouter_metrics_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@dataclass
class Metrics:
    """A running metrics service and a client stub connected to it."""

    stub: Any  # metrics_service_pb2_grpc.MetricsServiceStub (untyped generated code)
    running: RunningMetrics
    config: MetricsConfig

    async def record(self, *records: pb.UsageRecord) -> pb.RecordUsageResponse:
        """Send one RecordUsage batch."""
        response: pb.RecordUsageResponse = await self.stub.RecordUsage(
            pb.RecordUsageRequest(records=records)
        )
        return response

    async def query(self, **fields: Any) -> pb.QueryCostsResponse:
        """Send one QueryCosts request built from ``fields``."""
        response: pb.QueryCostsResponse = await self.stub.QueryCosts(
            pb.QueryCostsRequest(**fields)
        )
        return response


@pytest.fixture
async def metrics(database_url: str) -> AsyncIterator[Metrics]:
    """The metrics service on a fresh ledger, with a fixed clock at :data:`NOW`."""
    config = MetricsConfig(
        port=0,
        database_url=database_url,
        reference_model=REFERENCE_MODEL,
        reference_input_price_per_million=REFERENCE_INPUT_PER_MILLION,
        reference_output_price_per_million=REFERENCE_OUTPUT_PER_MILLION,
        shutdown_grace_s=1.0,
    )
    running = await start(config, clock=lambda: NOW)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield Metrics(metrics_service_pb2_grpc.MetricsServiceStub(channel), running, config)
    finally:
        await running.stop()


def usage_record(
    record_id: str,
    *,
    time: datetime | None = NOW - timedelta(minutes=5),
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    cost_usd: float = 0.001,
    duration_ms: int = 500,
    status: pb.UsageStatus = pb.USAGE_STATUS_SUCCEEDED,
    **fields: Any,
) -> pb.UsageRecord:
    """A valid usage record; ``fields`` sets any other ``UsageRecord`` field."""
    request_id, _, attempt = record_id.partition(":")
    record = pb.UsageRecord(
        id=record_id,
        request_id=request_id,
        attempt=int(attempt or 1),
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        duration=timedelta(milliseconds=duration_ms),
        status=status,
        **fields,
    )
    if time is not None:
        record.time.FromDatetime(time)
    return record


@pytest.fixture
def make_record() -> Callable[..., pb.UsageRecord]:
    """Factory of valid usage records (see :func:`usage_record`)."""
    return usage_record
