"""Fixtures for the metrics service: a real ledger (SQLite file or PostgreSQL database) behind a
real in-process ``grpc.aio`` server on port 0, reached through a real client channel.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from sqlalchemy.engine import URL, make_url

from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.server import start
from tests.conftest import PG_URL

from .support import (
    NOW,
    REFERENCE_CACHE_READ_PER_MILLION,
    REFERENCE_CACHE_WRITE_PER_MILLION,
    REFERENCE_INPUT_PER_MILLION,
    REFERENCE_MODEL,
    REFERENCE_OUTPUT_PER_MILLION,
    Metrics,
)

PG_URL_ENV = "LLMROUTER_TEST_PG_URL"


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[URL]:
    """A new PostgreSQL database (dropped afterwards) on the server at
    ``$LLMROUTER_TEST_PG_URL``, as that URL naming it. Skips the test when the server cannot be
    reached, unless the variable is set: then the test fails."""
    base = make_url(PG_URL)
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if PG_URL_ENV in os.environ:
            pytest.fail(f"{PG_URL_ENV} is set but PostgreSQL is unusable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"llmrouter_metrics_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A ledger nobody else uses: a SQLite file in a directory that does not exist yet, or a
    new PostgreSQL database (:func:`fresh_postgres_database`).
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/ledger/metrics.sqlite3"
        return
    async with fresh_postgres_database() as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture
async def metrics(database_url: str) -> AsyncIterator[Metrics]:
    """The metrics service on a fresh ledger, its clock stopped at ``NOW``."""
    config = MetricsConfig(
        port=0,
        prometheus_port=0,
        database_url=database_url,
        reference_model=REFERENCE_MODEL,
        reference_input_price_per_million=REFERENCE_INPUT_PER_MILLION,
        reference_output_price_per_million=REFERENCE_OUTPUT_PER_MILLION,
        reference_cache_read_price_per_million=REFERENCE_CACHE_READ_PER_MILLION,
        reference_cache_write_price_per_million=REFERENCE_CACHE_WRITE_PER_MILLION,
        shutdown_grace_s=1.0,
    )
    running = await start(config, clock=lambda: NOW)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield Metrics(metrics_service_pb2_grpc.MetricsServiceStub(channel), running, config)
    finally:
        await running.stop()
