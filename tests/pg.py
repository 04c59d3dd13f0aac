"""A PostgreSQL database of its own for one test, on the server at ``$LLMROUTER_TEST_PG_URL``."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL

__all__ = ["PG_URL_ENV", "fresh_pg_database"]

PG_URL_ENV = "LLMROUTER_TEST_PG_URL"


@asynccontextmanager
async def fresh_pg_database(prefix: str) -> AsyncIterator[str]:
    """A new database (dropped afterwards); yields its ``postgresql://`` URL (no driver).

    Skips the test when the server is unreachable, unless ``$LLMROUTER_TEST_PG_URL`` is set
    (then it fails: CI asked for PostgreSQL).
    """
    base = make_url(PG_URL).set(drivername="postgresql")
    dsn = base.render_as_string(hide_password=False)
    try:
        server = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if PG_URL_ENV in os.environ:
            pytest.fail(f"{PG_URL_ENV} is set but PostgreSQL is unusable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        await server.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
