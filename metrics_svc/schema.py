"""The ledger's schema over time: Alembic migrations, applied when the service starts.

Alembic is configured here, in code, so no ``alembic.ini`` is needed; the ``alembic`` command
line still works with ``-c`` pointing at a file that sets ``script_location`` and
``sqlalchemy.url``.

Alembic is imported only when a migration has to run: it stays resident once imported (about
8 MB), and a service starting on a ledger already at :data:`HEAD` needs none of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "BASELINE",
    "HEAD",
    "SCRIPT_LOCATION",
    "MigrationError",
    "alembic_config",
    "current_revision",
    "head",
    "upgrade",
]

#: The migrations, as a package resource so an installed wheel finds them too.
SCRIPT_LOCATION = "metrics_svc:migrations"

#: The revision whose schema ``create_all`` made before the service used migrations.
BASELINE = "0001"

#: The newest revision in ``migrations/versions``, known without Alembic so that start-up can
#: tell an up-to-date ledger cheaply; a test holds it equal to :func:`head`.
HEAD = "0011"

# Key of the PostgreSQL advisory lock that serialises services migrating the same database
# ("llmrouter-metrics" as a 64-bit number; any constant nobody else uses would do).
_PG_LOCK_KEY = 0x6C6C6D726F757465

_VERSION_TABLE = "alembic_version"


class MigrationError(Exception):
    """Alembic cannot migrate the ledger, typically one migrated by a newer release."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration of the ledger; ``url`` only for Alembic's own engine (CLI use)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision this code knows, as Alembic reads it from the scripts."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("metrics_svc ships no migrations")
    return revision


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the database to the newest revision in one transaction; returns that revision.

    Running it again is a no-op. A ledger made by ``create_all`` before migrations existed is
    recognised and stamped :data:`BASELINE` first, so its rows are kept.

    Raises :class:`MigrationError` when Alembic refuses the database's revision.
    """
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, None if it was never migrated."""

    def read(connection: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with _alembic_errors():
            return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def _upgrade(connection: Connection) -> str:
    # The version row is written in the transaction that migrates, so a ledger showing HEAD is
    # complete: nothing to lock, and no Alembic to import.
    if _stored_revisions(connection) == [HEAD]:
        return HEAD
    # Two services starting together would both see an empty database and both create it:
    # the first to lock migrates, the other waits and then finds nothing to do.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # The sqlite3 driver opens no transaction before DDL, so each CREATE would commit on
        # its own; an explicit one makes the migration all-or-nothing and holds the write lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    with _alembic_errors():
        return _migrate(connection)


def _migrate(connection: Connection) -> str:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = alembic_config()
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if "usage_records" in tables and _VERSION_TABLE not in tables:
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:  # pragma: no cover - upgrade just wrote it
        raise RuntimeError("the ledger has no revision after upgrading")
    return revision


def _stored_revisions(connection: Connection) -> list[str]:
    """The rows of Alembic's version table, read without Alembic; none if it has no table."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return []
    rows = connection.exec_driver_sql(f"SELECT version_num FROM {_VERSION_TABLE}")
    return [str(version) for (version,) in rows]


@contextlib.contextmanager
def _alembic_errors() -> Iterator[None]:
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc
