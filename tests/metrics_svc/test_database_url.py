"""Database URLs as operators write them: postgresql:// and postgres:// (with libpq's sslmode)
and sqlite:///path reach the ledger's async drivers; anything else is refused at start, naming
metrics.database_url and never quoting the URL (it may hold a password)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import grpc
import pytest
from sqlalchemy.engine import URL

from llmrouter.config import ConfigError
from llmrouter.serving import StartupError
from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig, load_config
from metrics_svc.database_url import DatabaseUrlError, async_url
from metrics_svc.server import start
from tests.metrics_svc.conftest import fresh_postgres_database

from .support import usage_record


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgresql://ledger:s3cr%40t@db.internal:5433/costs",
            "postgresql+asyncpg://ledger:s3cr%40t@db.internal:5433/costs",
        ),
        ("postgres://ledger@db.internal/costs", "postgresql+asyncpg://ledger@db.internal/costs"),
        (
            "postgresql://ledger@db/costs?sslmode=verify-full",
            "postgresql+asyncpg://ledger@db/costs?ssl=verify-full",
        ),
        (
            "postgres://ledger@db/costs?sslmode=require&target_session_attrs=read-write",
            "postgresql+asyncpg://ledger@db/costs?ssl=require&target_session_attrs=read-write",
        ),
        ("postgresql+asyncpg://ledger@db/costs?ssl=prefer", None),  # already asyncpg's
        ("sqlite:///data/metrics.sqlite3", "sqlite+aiosqlite:///data/metrics.sqlite3"),
        ("sqlite:////var/lib/ledger.sqlite3", "sqlite+aiosqlite:////var/lib/ledger.sqlite3"),
        ("sqlite+aiosqlite:///data/metrics.sqlite3", None),
    ],
)
def test_urls_map_to_the_async_drivers(given: str, expected: str | None) -> None:
    mapped = async_url(given)
    assert mapped.render_as_string(hide_password=False) == (expected or given)
    # The service accepts it in its config as the operator wrote it.
    assert MetricsConfig(database_url=given).database_url == given


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "mysql://ledger:hunter2@db/costs",
            "unsupported scheme 'mysql': use postgresql://, postgres:// or sqlite:///path",
        ),
        (
            "postgresql+psycopg2://ledger:hunter2@db/costs",
            "unsupported scheme 'postgresql+psycopg2': use postgresql://",
        ),
        ("sqlite+pysqlite:///x.db", "unsupported scheme 'sqlite+pysqlite'"),
        ("ledger:hunter2@db/costs", "not a database URL (expected postgresql://"),
        (
            "postgresql://ledger:hunter2@db/costs?sslmode=strict",
            "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, "
            "got 'strict'",
        ),
        (
            "postgresql://ledger:hunter2@db/costs?sslmode=require&ssl=require",
            "set one of sslmode and ssl, not both",
        ),
        (
            "postgresql://ledger:hunter2@db/costs?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "sslrootcert is not taken in the URL: set the environment variable PGSSLROOTCERT",
        ),
        (
            "postgresql://ledger:hunter2@db/costs?application_name=llmrouter",
            "unsupported query parameter 'application_name' for PostgreSQL (accepted: sslmode, "
            "ssl, target_session_attrs)",
        ),
    ],
)
def test_other_urls_are_refused_naming_the_key(given: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError) as direct:
        async_url(given)
    assert str(direct.value).startswith(message)
    with pytest.raises(ConfigError) as info:
        load_config(None, {"LLMROUTER_METRICS_DATABASE_URL": given})
    text = str(info.value)
    assert text.startswith(f"metrics.database_url: {message}")
    assert text.endswith("(set by LLMROUTER_METRICS_DATABASE_URL)")
    assert "hunter2" not in text


def test_the_file_names_the_key_too(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text('[metrics]\ndatabase_url = "mysql://ledger@db/costs"\n')
    with pytest.raises(ConfigError, match=r"^metrics\.database_url: unsupported scheme 'mysql'"):
        load_config(str(path), {})


async def _serve_and_count(url: str) -> int:
    """Start the metrics service on ``url``, record one attempt, return QueryCosts' count."""
    running = await start(MetricsConfig(port=0, prometheus_port=0, database_url=url))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            await stub.RecordUsage(pb.RecordUsageRequest(records=[usage_record("r:1", time=None)]))
            reply = await stub.QueryCosts(pb.QueryCostsRequest())
            return int(reply.totals.requests)
    finally:
        await running.stop()


def _libpq(url: URL, scheme: str, query: str = "") -> str:
    """``url`` as libpq and psql spell it (no driver), with ``query``."""
    user = f"{url.username}@" if url.username else ""
    return f"{scheme}://{user}{url.host}:{url.port or 5432}/{url.database}{query}"


@pytest.mark.postgres
async def test_postgresql_urls_reach_a_real_server() -> None:
    async with fresh_postgres_database() as database:
        assert await _serve_and_count(_libpq(database, "postgresql", "?sslmode=prefer")) == 1
        # The same ledger through the other spelling: the record is there, and not twice.
        assert await _serve_and_count(_libpq(database, "postgres", "?sslmode=disable")) == 1


@pytest.mark.postgres
async def test_sslmode_reaches_the_driver() -> None:
    """sslmode=require is honoured, not dropped: on a server without TLS the start fails
    saying so; on one with TLS the connection is encrypted."""
    async with fresh_postgres_database() as database:
        url = _libpq(database, "postgresql", "?sslmode=require")
        plain = _libpq(database, "postgresql", "?sslmode=disable")
        connection = await asyncpg.connect(plain, timeout=5)
        try:
            server_tls = await connection.fetchval("SHOW ssl") == "on"
        finally:
            await connection.close()
        if server_tls:
            assert await _serve_and_count(url) == 1
            return
        with pytest.raises(StartupError) as info:
            await _serve_and_count(url)
        assert "cannot open database" in str(info.value)
        assert "SSL" in str(info.value)


def test_sqlite_url_reaches_aiosqlite(tmp_path: Path) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path}/ledger/metrics.sqlite3"
    assert asyncio.run(_serve_and_count(url)) == 1
    assert (tmp_path / "ledger" / "metrics.sqlite3").is_file()
