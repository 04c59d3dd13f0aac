"""The admin store's schema over time: Alembic migrations, applied when the router starts.

The pattern of :mod:`metrics_svc.schema` (configured in code, no ``alembic.ini``; Alembic
imported only when a migration has to run; one transaction; concurrent starters serialised),
with a version table of its own (``admin_alembic_version``) so the store can live in the
ledger's PostgreSQL database beside its tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "SCRIPT_LOCATION", "MigrationError", "alembic_config", "head", "upgrade"]

#: The migrations, as a package resource so an installed wheel finds them too.
SCRIPT_LOCATION = "router_svc.admin_store:migrations"

#: The newest revision in ``migrations/versions``, known without Alembic so that start-up can
#: tell an up-to-date store cheaply; a test holds it equal to :func:`head`.
HEAD = "0004"

# Key of the PostgreSQL advisory lock that serialises routers migrating the same database
# ("llmadmin" as a 64-bit number; the ledger's lock is another).
_PG_LOCK_KEY = 0x6C6C6D61646D696E

VERSION_TABLE = "admin_alembic_version"


class MigrationError(Exception):
    """Alembic cannot migrate the store, typically one migrated by a newer release."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration of the store; ``url`` only for Alembic's own engine (CLI use)."""
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
        raise RuntimeError("router_svc.admin_store ships no migrations")
    return revision


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the store to the newest revision in one transaction; returns that revision.

    ``engine`` must begin SQLite transactions with ``BEGIN IMMEDIATE`` when asked (see
    :mod:`router_svc.admin_store.store`), so two routers starting on one file do not both
    migrate it. Raises :class:`MigrationError` when Alembic refuses the database's revision.
    """
    async with engine.execution_options(immediate=True).begin() as conn:
        return await conn.run_sync(_upgrade)


def _upgrade(connection: Connection) -> str:
    # The version row is written in the transaction that migrates: a store showing HEAD is
    # complete, and needs no lock and no Alembic.
    if _stored_revisions(connection) == [HEAD]:
        return HEAD
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    with _alembic_errors():
        return _migrate(connection)


def _migrate(connection: Connection) -> str:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    revision = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()
    if revision is None:  # pragma: no cover - upgrade just wrote it
        raise RuntimeError("the admin store has no revision after upgrading")
    return revision


def _stored_revisions(connection: Connection) -> list[str]:
    """The rows of the store's version table, read without Alembic; none if it has no table."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return []
    rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")
    return [str(version) for (version,) in rows]


@contextlib.contextmanager
def _alembic_errors() -> Iterator[None]:
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc
