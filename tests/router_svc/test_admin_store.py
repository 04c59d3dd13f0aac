"""The admin store against real SQLite files and PostgreSQL databases: its migrations build
exactly tables.py, it lives beside the usage ledger, and concurrent writers are serialised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from metrics_svc.repository import Repository
from router_svc.admin_store import Actor, AdminStore, AdminStoreError, Change, async_url, schema
from router_svc.admin_store.tables import metadata
from tests.pg import fresh_pg_database

ALICE = Actor("token:ADMIN_TOKEN", "alice")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store nobody else uses, as an operator writes its URL (no driver named)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/not-yet/admin.sqlite3"
        return
    async with fresh_pg_database("llmrouter_admin") as found:
        yield found


def no_config(kind: str, key: str) -> Any:
    return None


async def test_migrations_build_the_declared_tables_once(url: str) -> None:
    assert schema.head() == schema.HEAD
    store = await AdminStore.open(url)
    await store.close()
    again = await AdminStore.open(url)  # a second start finds nothing to do
    await again.close()
    engine = create_async_engine(async_url(url))

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"version_table": schema.VERSION_TABLE})
        assert context.get_current_revision() == schema.HEAD
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(compare) == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_shares_a_database_with_the_usage_ledger() -> None:
    """Own tables and an own Alembic version table: the ledger and the store both migrate
    the one database, in either order, and neither touches the other's tables."""
    async with fresh_pg_database("llmrouter_shared") as url:
        store = await AdminStore.open(url)
        ledger = await Repository.create(str(async_url(url)))
        assert await ledger.schema_revision() is not None
        await ledger.close()
        await store.change(
            "set_model_enabled", "model:a", ALICE, [Change("model_enabled", "a", False)], no_config
        )
        await store.close()
        reopened = await AdminStore.open(url)
        assert (await reopened.snapshot()).version == 1
        await reopened.close()
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as conn:
                tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        finally:
            await engine.dispose()
        assert {"usage_records", "alembic_version"} <= tables
        assert {"admin_overlays", "admin_audit", "admin_version", schema.VERSION_TABLE} <= tables


async def test_a_change_records_before_and_after_and_moves_the_version(url: str) -> None:
    store = await AdminStore.open(url)
    try:
        assert await store.version() == 0

        def config(kind: str, key: str) -> Any:
            return {"chain": ["a"], "keywords": []} if key == "code" else None

        first = await store.change(
            "update_category",
            "category:code",
            ALICE,
            [Change("category", "code", {"chain": ["b"], "keywords": ["x"]})],
            config,
        )
        second = await store.change(
            "delete_category",
            "category:code",
            Actor("cert:ops"),
            [Change("category", "code", None)],
            config,
        )
        gone = await store.change(
            "delete_category",
            "category:code",
            ALICE,
            [Change("category", "code", remove=True)],
            config,
        )
        assert (first.version, second.version, gone.version) == (1, 2, 3)
        assert first.before == {"code": {"chain": ["a"], "keywords": []}}  # the config's value
        assert first.after == {"code": {"chain": ["b"], "keywords": ["x"]}}
        assert second.before == first.after
        assert second.after == {"code": None}
        assert gone.after == {"code": {"chain": ["a"], "keywords": []}}  # the config's again
        snapshot = await store.snapshot()
        assert snapshot.version == 3
        assert snapshot.overlays == ()
        events = await store.audit_events(10)
        assert [(e.id, e.actor, e.api_key_id) for e in events] == [
            (gone.id, "token:ADMIN_TOKEN", "alice"),
            (second.id, "cert:ops", ""),
            (first.id, "token:ADMIN_TOKEN", "alice"),
        ]
        assert [e.id for e in await store.audit_events(10, before_id=second.id)] == [first.id]
    finally:
        await store.close()


async def test_concurrent_writers_get_one_version_each(url: str, tmp_path: Path) -> None:
    """Two replicas' stores on one database writing at once: every change gets its own version
    and each one's "before" is the value the previous one wrote."""
    one, two = await AdminStore.open(url), await AdminStore.open(url)
    try:
        events = await asyncio.gather(
            *(
                (one if i % 2 else two).change(
                    "set_model_enabled",
                    "model:a",
                    ALICE,
                    [Change("model_enabled", "a", i % 3 == 0)],
                    lambda kind, key: True,
                )
                for i in range(20)
            )
        )
        assert sorted(e.version for e in events) == list(range(1, 21))
        by_version = {e.version: e for e in events}
        for number in range(2, 21):
            assert by_version[number].before == by_version[number - 1].after
        assert await one.version() == await two.version() == 20
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/db", "unsupported database 'mysql'"),
        ("not a url", "invalid database url"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot open the admin store"),
    ],
)
async def test_unusable_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(AdminStoreError) as info:
        await AdminStore.open(url)
    assert message in str(info.value)


async def test_the_password_never_shows() -> None:
    with pytest.raises(AdminStoreError) as info:
        await AdminStore.open("postgresql://u:s3cret-pw@127.0.0.1:1/none")
    assert "s3cret-pw" not in str(info.value)
