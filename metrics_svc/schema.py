"""The ledger's schema over time: Alembic migrations, applied when the service starts.

Alembic is configured here, in code, so no ``alembic.ini`` is needed; the ``alembic`` command
line still works with ``-c`` pointing at a file that sets ``script_location`` and
``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["BASELINE", "SCRIPT_LOCATION", "alembic_config", "current_revision", "head", "upgrade"]

#: The migrations, as a package resource so an installed wheel finds them too.
SCRIPT_LOCATION = "metrics_svc:migrations"

#: The revision whose schema ``create_all`` made before the service used migrations.
BASELINE = "0001"

# Key of the PostgreSQL advisory lock that serialises services migrating the same database
# ("llmrouter-metrics" as a 64-bit number; any constant nobody else uses would do).
_PG_LOCK_KEY = 0x6C6C6D726F757465


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration of the ledger; ``url`` only for Alembic's own engine (CLI use)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("metrics_svc ships no migrations")
    return revision


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the database to the newest revision in one transaction; returns that revision.

    Running it again is a no-op. A ledger made by ``create_all`` before migrations existed is
    recognised and stamped :data:`BASELINE` first, so its rows are kept.
    """
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, None if it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def _upgrade(connection: Connection) -> str:
    # Two services starting together would both see an empty database and both create it:
    # the first to lock migrates, the other waits and then finds nothing to do.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # The sqlite3 driver opens no transaction before DDL, so each CREATE would commit on
        # its own; an explicit one makes the migration all-or-nothing and holds the write lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    config = alembic_config()
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if "usage_records" in tables and "alembic_version" not in tables:
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:  # pragma: no cover - upgrade just wrote it
        raise RuntimeError("the ledger has no revision after upgrading")
    return revision
