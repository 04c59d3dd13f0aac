"""The ledger's Alembic migrations against real SQLite and PostgreSQL databases: they build
exactly the schema tables.py declares, run once however often the service starts, and adopt
ledgers created before migrations existed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from llmrouter.serving import StartupError
from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc import schema
from metrics_svc.config import MetricsConfig
from metrics_svc.server import RunningMetrics, migrate, start
from metrics_svc.tables import Base, usage_records

from .support import usage_record


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A plain engine on the test database, for looking at it from outside the service."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def differences(engine: AsyncEngine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match tables.py."""

    def compare(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


async def run_alembic(engine: AsyncEngine, action: Callable[[Config], None]) -> None:
    """Run an Alembic command on ``engine`` the way the service does, in one transaction."""

    def run(conn: Connection) -> None:
        config = schema.alembic_config()
        config.attributes["connection"] = conn
        action(config)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


#: A usage_records row as revision 0001 stores it.
ROW = {
    "id": "x:1",
    "request_id": "x",
    "attempt": 1,
    "time": datetime(2026, 11, 20, tzinfo=UTC),
    "provider": "openai",
    "model": "gpt-4o",
    "category": "",
    "task_type": "",
    "source": "",
    "api_key_id": "",
    "prompt_tokens": 1,
    "completion_tokens": 1,
    "total_tokens": 2,
    "cost_usd": 0.0,
    "duration_ms": 1.0,
    "status": "succeeded",
    "error_type": "",
    "fallback": False,
    "fallback_from": "",
    "trace_id": "",
    "metadata": {},
    "local": False,
    "streamed": False,
}


def config_for(database_url: str) -> MetricsConfig:
    return MetricsConfig(port=0, prometheus_port=0, database_url=database_url, shutdown_grace_s=1.0)


def test_head_names_the_newest_migration() -> None:
    # Start-up skips Alembic when the ledger is at HEAD: a stale HEAD would skip a migration.
    assert schema.head() == schema.HEAD


async def test_migrating_an_empty_database_gives_the_models_schema(
    database_url: str, engine: AsyncEngine
) -> None:
    assert await tables(engine) == set()

    revision = await migrate(config_for(database_url))

    assert revision == schema.head()
    tables_now = await tables(engine)
    assert tables_now == {"usage_records", "feedback", "feedback_stats", "alembic_version"}
    assert await differences(engine) == []


def named(diff: Any) -> tuple[str, str]:
    """An autogenerate difference as (operation, name of the index or column)."""
    if diff[0] in ("add_column", "remove_column"):  # (op, schema, table, column)
        return diff[0], diff[3].name
    return diff[0], diff[1].name


async def test_the_comparison_notices_a_schema_that_lags_behind(engine: AsyncEngine) -> None:
    # Only the first revision: tables.py has since changed its indexes, gained columns and a table.
    await run_alembic(engine, lambda config: command.upgrade(config, "0001"))

    found = {named(diff) for diff in await differences(engine)}

    assert found == {
        ("add_index", "ix_usage_records_request"),
        ("add_index", "ix_usage_records_provider_outcome"),
        ("remove_index", "ix_usage_records_provider"),
        ("add_column", "client_request_id"),
        ("add_column", "fallback_reason"),
        ("add_column", "cache_read_tokens"),
        ("add_column", "cache_write_tokens"),
        ("add_column", "reasoning_tokens"),
        ("add_column", "usage_estimated"),
        ("add_column", "saved_cost_usd"),
        ("add_column", "front_door"),
        ("add_column", "team_id"),
        ("add_column", "deployment"),
        ("add_table", "feedback"),
        ("add_index", "ix_feedback_sequence"),
        ("add_index", "ix_feedback_time"),
        ("add_table", "feedback_stats"),
    }


async def test_rows_from_before_0003_keep_their_place_without_a_client_id(
    database_url: str, engine: AsyncEngine
) -> None:
    # A ledger at 0002, with a row: 0003 adds client_request_id ("" for that row), records
    # store theirs, and going back to 0002 drops the column, keeping the rows and the check.
    await run_alembic(engine, lambda config: command.upgrade(config, "0002"))
    async with engine.begin() as conn:
        await conn.execute(insert(usage_records), [{**ROW, "id": "old:1"}])
    assert await differences(engine) != []

    running = await start(config_for(database_url))
    try:
        new = usage_record("new:1", client_request_id="my-id-7")
        assert await record_and_count(running, new) == (1, 2)
        old_row = await running.repository.get("old:1")
        new_row = await running.repository.get("new:1")
    finally:
        await running.stop()
    assert await differences(engine) == []
    assert old_row is not None
    assert old_row.client_request_id == ""
    assert new_row is not None
    assert new_row.client_request_id == "my-id-7"

    await run_alembic(engine, lambda config: command.downgrade(config, "0002"))
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("usage_records")}
        )
        ids = (await conn.execute(select(usage_records.c.id))).scalars().all()
    assert "client_request_id" not in columns
    assert sorted(ids) == ["new:1", "old:1"]
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(usage_records), [{**ROW, "id": "x:3", "status": "lost"}])


async def test_rows_from_before_0004_keep_the_previous_error_as_their_fallback_reason(
    database_url: str, engine: AsyncEngine
) -> None:
    # A ledger at 0003 with a fallback (old:2 after old:1's RATE_LIMITED): 0004 adds
    # fallback_reason ("" for those rows), whose event keeps the previous attempt's error; a
    # hedge recorded after it lists the router's reason (HEDGE), not the loser's HEDGE_LOST.
    await run_alembic(engine, lambda config: command.upgrade(config, "0003"))
    at = datetime(2026, 11, 20, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(usage_records),
            [
                {**ROW, "id": "old:1", "request_id": "old", "attempt": 1, "time": at}
                | {"status": "failed", "error_type": "RATE_LIMITED"},
                {**ROW, "id": "old:2", "request_id": "old", "attempt": 2, "time": at}
                | {"model": "gpt-4o-mini", "fallback": True, "fallback_from": "gpt-4o"},
            ],
        )

    running = await start(config_for(database_url))
    try:
        hedged = (
            usage_record(
                "new:1",
                model="gpt-4o",
                status=pb.USAGE_STATUS_CANCELLED,
                error_type="HEDGE_LOST",
            ),
            usage_record(
                "new:2",
                model="gpt-4o-mini",
                fallback=True,
                fallback_from="gpt-4o",
                fallback_reason="HEDGE",
            ),
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            stored = await stub.RecordUsage(pb.RecordUsageRequest(records=hedged))
            response = await stub.ListFallbackEvents(pb.ListFallbackEventsRequest())
    finally:
        await running.stop()
    assert stored.inserted_count == 2
    assert await differences(engine) == []
    assert sorted((e.request_id, e.fallback_from, e.reason) for e in response.events) == [
        ("new", "gpt-4o", "HEDGE"),
        ("old", "gpt-4o", "RATE_LIMITED"),
    ]

    await run_alembic(engine, lambda config: command.downgrade(config, "0003"))
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("usage_records")}
        )
    assert "fallback_reason" not in columns


async def test_rows_from_before_0005_count_no_cached_or_reasoning_tokens(
    database_url: str, engine: AsyncEngine
) -> None:
    # A ledger at 0004 with a row: 0005 adds the cache and reasoning counts (0 for that row),
    # new records store theirs, the totals add both, and going back to 0004 drops the columns.
    await run_alembic(engine, lambda config: command.upgrade(config, "0004"))
    async with engine.begin() as conn:
        await conn.execute(insert(usage_records), [{**ROW, "id": "old:1"}])

    running = await start(config_for(database_url))
    try:
        new = usage_record(
            "new:1",
            prompt_tokens=2012,
            cache_read_tokens=2000,
            cache_write_tokens=7,
            reasoning_tokens=30,
        )
        assert await record_and_count(running, new) == (1, 2)
        old_row = await running.repository.get("old:1")
        new_row = await running.repository.get("new:1")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            totals = (await stub.QueryCosts(pb.QueryCostsRequest())).totals
    finally:
        await running.stop()
    assert await differences(engine) == []
    assert old_row is not None
    assert (old_row.cache_read_tokens, old_row.cache_write_tokens, old_row.reasoning_tokens) == (
        0,
        0,
        0,
    )
    assert new_row is not None
    assert (new_row.cache_read_tokens, new_row.cache_write_tokens, new_row.reasoning_tokens) == (
        2000,
        7,
        30,
    )
    assert (totals.cache_read_tokens, totals.cache_write_tokens, totals.reasoning_tokens) == (
        2000,
        7,
        30,
    )

    await run_alembic(engine, lambda config: command.downgrade(config, "0004"))
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("usage_records")}
        )
    assert not {"cache_read_tokens", "cache_write_tokens", "reasoning_tokens"} & columns


async def test_rows_from_before_0006_are_not_marked_estimated(
    database_url: str, engine: AsyncEngine
) -> None:
    # A ledger at 0005 with a row: 0006 adds usage_estimated (false for that row), a new record
    # marked estimated keeps its mark, the totals count it, and going back to 0005 drops it.
    await run_alembic(engine, lambda config: command.upgrade(config, "0005"))
    async with engine.begin() as conn:
        await conn.execute(insert(usage_records), [{**ROW, "id": "old:1"}])

    running = await start(config_for(database_url))
    try:
        new = usage_record("new:1", status=pb.USAGE_STATUS_CANCELLED, usage_estimated=True)
        assert await record_and_count(running, new) == (1, 2)
        old_row = await running.repository.get("old:1")
        new_row = await running.repository.get("new:1")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            totals = (await stub.QueryCosts(pb.QueryCostsRequest())).totals
    finally:
        await running.stop()
    assert await differences(engine) == []
    assert old_row is not None
    assert new_row is not None
    assert (old_row.usage_estimated, new_row.usage_estimated) == (False, True)
    assert (totals.requests, totals.estimated_requests) == (2, 1)

    await run_alembic(engine, lambda config: command.downgrade(config, "0005"))
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("usage_records")}
        )
    assert "usage_estimated" not in columns


async def test_rows_from_before_0010_name_no_deployment(
    database_url: str, engine: AsyncEngine
) -> None:
    # A ledger at 0009 with a row: 0010 adds deployment ("" for that row), new records store
    # theirs, ListRequests lists each attempt's, and going back to 0009 drops the column.
    await run_alembic(engine, lambda config: command.upgrade(config, "0009"))
    async with engine.begin() as conn:
        await conn.execute(insert(usage_records), [{**ROW, "id": "old:1", "request_id": "old"}])

    running = await start(config_for(database_url))
    try:
        failed = usage_record("new:1", model="m", status=pb.USAGE_STATUS_FAILED, deployment="east")
        served = usage_record("new:2", model="m", provider="azure", deployment="west")
        assert await record_and_count(running, failed) == (1, 2)
        assert await record_and_count(running, served) == (1, 3)
        old_row = await running.repository.get("old:1")
        new_row = await running.repository.get("new:2")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            listed = await stub.ListRequests(pb.ListRequestsRequest())
    finally:
        await running.stop()
    assert await differences(engine) == []
    assert old_row is not None
    assert new_row is not None
    assert (old_row.deployment, new_row.deployment) == ("", "west")
    entries = {e.request_id: e for e in listed.requests}
    assert (list(entries["new"].models), list(entries["new"].deployments)) == (
        ["m", "m"],
        ["east", "west"],
    )
    assert (entries["new"].final_deployment, entries["new"].final_provider) == ("west", "azure")
    assert (list(entries["old"].deployments), entries["old"].final_deployment) == ([""], "")

    await run_alembic(engine, lambda config: command.downgrade(config, "0009"))
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("usage_records")}
        )
    assert "deployment" not in columns


async def test_the_status_check_constraint_is_enforced(
    database_url: str, engine: AsyncEngine
) -> None:
    # Alembic's comparison ignores CHECK constraints, so try the database itself.
    await migrate(config_for(database_url))
    async with engine.begin() as conn:
        await conn.execute(insert(usage_records), [ROW])
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(usage_records), [{**ROW, "id": "x:2", "status": "lost"}])


async def record_and_count(running: RunningMetrics, record: pb.UsageRecord) -> tuple[int, int]:
    """Send ``record`` to a running service; its insert count and the ledger's request count."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        stored = await stub.RecordUsage(pb.RecordUsageRequest(records=[record]))
        totals = (await stub.QueryCosts(pb.QueryCostsRequest())).totals
    return stored.inserted_count, totals.requests


async def test_starting_twice_keeps_the_schema_and_the_rows(
    database_url: str, engine: AsyncEngine
) -> None:
    config = config_for(database_url)
    first = await start(config)
    try:
        assert await record_and_count(first, usage_record("a:1")) == (1, 1)
    finally:
        await first.stop()

    second = await start(config)
    try:
        assert await record_and_count(second, usage_record("b:1")) == (1, 2)
    finally:
        await second.stop()

    assert await migrate(config) == schema.head()
    assert await differences(engine) == []


async def test_services_starting_together_migrate_once(
    database_url: str, engine: AsyncEngine
) -> None:
    config = config_for(database_url)

    revisions = await asyncio.gather(*(migrate(config) for _ in range(3)))

    assert revisions == [schema.head()] * 3
    assert await differences(engine) == []


async def test_a_ledger_made_before_migrations_is_adopted_with_its_rows(
    database_url: str, engine: AsyncEngine
) -> None:
    # What the service used to leave behind: revision 0001's schema, rows, no version table.
    await run_alembic(engine, lambda config: command.upgrade(config, "0001"))
    async with engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE alembic_version")
        await conn.execute(insert(usage_records), [{**ROW, "id": "old:1"}])
    assert await tables(engine) == {"usage_records"}

    running = await start(config_for(database_url))
    try:
        assert await record_and_count(running, usage_record("new:1")) == (1, 2)
    finally:
        await running.stop()

    assert await differences(engine) == []
    async with engine.connect() as conn:
        ids = (await conn.execute(select(usage_records.c.id))).scalars().all()
    assert sorted(ids) == ["new:1", "old:1"]


async def test_a_database_from_a_newer_release_is_refused_in_one_line(
    database_url: str, engine: AsyncEngine
) -> None:
    await migrate(config_for(database_url))
    async with engine.begin() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(StartupError) as caught:
        await start(config_for(database_url))

    message = str(caught.value)
    assert "\n" not in message
    assert "cannot migrate the schema" in message
    assert "9999" in message


async def test_downgrading_to_nothing_and_back_works(
    database_url: str, engine: AsyncEngine
) -> None:
    await migrate(config_for(database_url))

    await run_alembic(engine, lambda config: command.downgrade(config, "base"))
    assert await tables(engine) == {"alembic_version"}

    assert await migrate(config_for(database_url)) == schema.head()
    assert await differences(engine) == []


def test_the_alembic_command_line_path_migrates_with_its_own_engine(tmp_path: Path) -> None:
    """env.py without a shared connection: what ``alembic upgrade head`` does."""
    path = tmp_path / "ledger.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"

    command.upgrade(schema.alembic_config(url), "head")

    with sqlite3.connect(path) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"usage_records", "ix_usage_records_request", "ix_usage_records_time"} <= names
    assert version == schema.head()


def test_offline_mode_writes_the_postgresql_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(
        schema.alembic_config("postgresql+asyncpg://nobody@nowhere/none"), "head", sql=True
    )

    ddl = capsys.readouterr().out
    assert "CREATE TABLE usage_records" in ddl
    assert "metadata JSONB NOT NULL" in ddl
    assert "CONSTRAINT ck_usage_records_status CHECK" in ddl
    assert "CREATE INDEX ix_usage_records_provider_outcome" in ddl
    assert "ADD COLUMN client_request_id VARCHAR DEFAULT '' NOT NULL" in ddl
    assert "ADD COLUMN fallback_reason VARCHAR DEFAULT '' NOT NULL" in ddl
    assert "ADD COLUMN cache_read_tokens BIGINT DEFAULT '0' NOT NULL" in ddl
    assert "ADD COLUMN usage_estimated BOOLEAN DEFAULT false NOT NULL" in ddl
