"""Alembic environment of the router's admin store, for async SQLite and PostgreSQL engines.

The router passes its own connection in ``config.attributes["connection"]`` (see
:mod:`router_svc.admin_store.schema`); the ``alembic`` command line instead connects to
``sqlalchemy.url`` with an async engine of its own. The store may share a database with the
usage ledger, so its revision lives in a version table of its own and only its own tables are
compared.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from router_svc.admin_store.schema import VERSION_TABLE
from router_svc.admin_store.tables import metadata

config = context.config
target_metadata = metadata


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Only the admin tables: the ledger's, in the same database, are someone else's."""
    if type_ == "table":
        return name in metadata.tables
    return True


def run_migrations_offline() -> None:
    """Write the SQL of the migrations instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        version_table=VERSION_TABLE,
        include_object=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    """Apply the migrations on ``connection`` (a sync facade of an async connection)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_ours,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_with_own_engine(url: str) -> None:
    """Connect to ``url`` just for the migrations."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    shared = config.attributes.get("connection")
    if shared is not None:
        run_migrations(shared)
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection given and sqlalchemy.url is not set")
        asyncio.run(run_migrations_with_own_engine(url))
