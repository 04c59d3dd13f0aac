"""Migration 0002 (virtual keys and teams) on SQLite and PostgreSQL: a store of release 0001
upgrades keeping its overlays, and keys round-trip with only their digests stored."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from router_svc.admin_store import Actor, AdminStore, ApiKeyRecord, Change, async_url, schema
from tests.pg import fresh_pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/admin.sqlite3"
        return
    async with fresh_pg_database("llmrouter_admin_keys") as found:
        yield found


async def _at_0001(url: str) -> None:
    engine = create_async_engine(async_url(url))

    def upgrade(conn: Connection) -> None:
        config = schema.alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()


def _key(secret_digest: str) -> ApiKeyRecord:
    return ApiKeyRecord(
        id="vk_1",
        name="ci",
        team_id="",
        role="user",
        allowed_models=("a",),
        allowed_categories=(),
        rpm_limit=5,
        tpm_limit=None,
        budgets=({"period": "day", "hard_usd": 2.0},),
        create_time=datetime(2027, 1, 1, tzinfo=UTC),
        expire_time=None,
        revoke_time=None,
        rotate_time=None,
        secret_sha256=secret_digest,
        previous_sha256=None,
        previous_expire_time=None,
    )


def _none(kind: str, key: str) -> Any:
    return None


async def test_a_0001_store_upgrades_and_keeps_its_overlays(url: str) -> None:
    await _at_0001(url)
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO admin_overlays (kind, key, value_json, created_version, "
                    "updated_version, update_time, updated_by) VALUES ('model_enabled', 'a', "
                    "'false', 1, 1, '2027-01-01 00:00:00', 'ops')"
                )
            )
            await conn.execute(text("UPDATE admin_version SET version = 1"))
    finally:
        await engine.dispose()

    store = await AdminStore.open(url)
    try:
        snapshot = await store.snapshot()
        assert [(o.kind, o.key, o.value) for o in snapshot.overlays] == [
            ("model_enabled", "a", False)
        ]
        assert snapshot.api_keys == ()
        digest = "ab" * 32
        event = await store.put_api_key("create_api_key", Actor("ops"), _key(digest), created=True)
        assert (event.version, event.target) == (2, "api_key:vk_1")
        assert digest not in str(event.after)
        revoked = dataclasses.replace(_key(digest), revoke_time=datetime(2027, 1, 2, tzinfo=UTC))
        await store.put_api_key("revoke_api_key", Actor("ops"), revoked, created=False)
        await store.change(
            "set_model_enabled",
            "model:a",
            Actor("ops"),
            [Change("model_enabled", "a", True)],
            _none,
        )
        snapshot = await store.snapshot()
        assert snapshot.version == 4
        assert snapshot.api_keys == (revoked,)
        events = await store.audit_events(10)
        assert [e.action for e in events] == [
            "set_model_enabled",
            "revoke_api_key",
            "create_api_key",
        ]
        assert events[1].before["revoke_time"] is None
        assert events[1].after["revoke_time"] == "2027-01-02T00:00:00+00:00"
    finally:
        await store.close()
