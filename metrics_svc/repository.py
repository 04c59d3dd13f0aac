"""The usage ledger's storage: async SQLAlchemy over SQLite or PostgreSQL, plain values in/out.

Connecting, migrating and error reporting live here; the statements live with their concept:
the insert in :mod:`metrics_svc.ingest`, the cost, fallback, provider-health and request-log
queries in :mod:`metrics_svc.aggregates`, :mod:`metrics_svc.fallbacks`,
:mod:`metrics_svc.provider_health` and :mod:`metrics_svc.request_log`, feedback in
:mod:`metrics_svc.feedback`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from metrics_svc import schema
from metrics_svc.aggregates import (
    LedgerSqliteConnection,
    conditions,
    cost_statement,
    group_from_row,
    summary_from_row,
)
from metrics_svc.costs import CostQuery, CostReport
from metrics_svc.database_url import DatabaseUrlError, async_url
from metrics_svc.errors import StorageError
from metrics_svc.fallbacks import FallbackEvent, FallbackQuery, event_from_row, fallback_statement
from metrics_svc.feedback import (
    FeedbackCaller,
    FeedbackInput,
    QualityStats,
    StoredFeedback,
    list_feedback,
    quality_stats,
    record_feedback,
)
from metrics_svc.ingest import insert_postgresql, insert_sqlite
from metrics_svc.provider_health import (
    HealthQuery,
    ProviderHealth,
    health_from_row,
    health_statement,
)
from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.request_log import (
    RequestPage,
    RequestQuery,
    encode_token,
    entry_from_row,
    requests_statement,
)
from metrics_svc.tables import usage_records

__all__ = ["CONNECT_TIMEOUT_S", "Repository", "safe_url"]

#: Seconds to wait for a PostgreSQL connection before calling the database unreachable.
CONNECT_TIMEOUT_S = 10.0

_DIALECTS = ("sqlite", "postgresql")


def safe_url(url: str) -> str:
    """``url`` with its password masked, fit for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database url>"


class Repository:
    """Stores usage rows idempotently by id and answers cost queries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        if dialect not in _DIALECTS:
            raise StorageError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
        self._sqlite = dialect == "sqlite"
        # For statements that are a transaction on their own (PostgreSQL's batch insert).
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    async def create(cls, url: str) -> Repository:
        """Connect to ``url`` (any form :func:`metrics_svc.database_url.async_url` maps) and
        migrate the database to the newest schema.

        Raises :class:`StorageError` with a one-line reason when the URL is unusable or the
        database cannot be reached.
        """
        try:
            parsed = async_url(url)
        except DatabaseUrlError as exc:
            raise StorageError(f"database url: {exc}") from None
        backend = parsed.get_backend_name()
        # No prepared-statement cache on either driver: when batches went out as multi-row
        # INSERTs (a different statement for each batch size) a cache of them (128 per SQLite
        # connection, 100 per asyncpg one) grew by ~35 MB under steady ingest while hardly ever
        # being hit. Ingest now sends one fixed statement, prepared once per batch.
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            _create_parent_dir(parsed.database)
            connect_args["factory"] = LedgerSqliteConnection
            connect_args["cached_statements"] = 0
        else:
            connect_args["timeout"] = CONNECT_TIMEOUT_S
            connect_args["prepared_statement_cache_size"] = 0
        try:
            engine = create_async_engine(
                parsed,
                # A server connection can go stale; a SQLite file cannot, and its ping took four
                # of the nine trips to aiosqlite's thread that storing a batch made.
                pool_pre_ping=backend != "sqlite",
                connect_args=connect_args,
            )
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(
                f"unusable database driver {parsed.drivername!r} ({_describe(exc)}); "
                "use sqlite+aiosqlite:// or postgresql+asyncpg://"
            ) from exc
        if backend == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            with _storage_errors("cannot open database"):
                await schema.upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    async def insert_batch(self, rows: Sequence[UsageRow]) -> tuple[int, int]:
        """Store ``rows`` in one transaction; returns ``(inserted, duplicates)``.

        A row whose id is already stored (or repeated within the batch) is a duplicate and
        leaves the stored row untouched, so replaying a batch is harmless.
        """
        if not rows:
            return 0, 0
        with _storage_errors("cannot store usage records"):
            if self._sqlite:
                inserted = await insert_sqlite(self._engine, rows)
            else:
                inserted = await insert_postgresql(self._autocommit, rows)
        return inserted, len(rows) - inserted

    async def query_costs(self, query: CostQuery) -> CostReport:
        """Aggregate the records matching ``query``; see :class:`CostSummary` for the figures."""
        where = conditions(query.start, query.end, query.filter)
        grouped = bool(query.group_by) or query.bucket is not None
        totals_stmt = cost_statement(query, where, self.dialect, grouped=False)
        groups_stmt = cost_statement(query, where, self.dialect, grouped=True)
        with _storage_errors("cannot query usage records"):
            async with self._snapshot() as conn:
                totals = (await conn.execute(totals_stmt)).one()
                rows = (await conn.execute(groups_stmt)).all() if grouped else []
        # Sorted here, not in SQL: PostgreSQL's collation and SQLite's byte order differ.
        groups = sorted((group_from_row(query, r) for r in rows), key=lambda g: g.key.sort_key())
        return CostReport(
            summary_from_row(totals, query.reference), tuple(groups), query.reference.model
        )

    async def list_fallback_events(self, query: FallbackQuery) -> list[FallbackEvent]:
        """Attempts with ``fallback`` set in the window and filter, newest first."""
        with _storage_errors("cannot query usage records"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(fallback_statement(query))).all()
        return [event_from_row(row) for row in rows]

    async def provider_health(self, query: HealthQuery) -> list[ProviderHealth]:
        """Per provider with usage in the window: its figures, and its latest outcomes ever;
        both count only the records ``query.filter`` matches."""
        with _storage_errors("cannot query usage records"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(health_statement(query))).all()
        # Sorted here, not in SQL: PostgreSQL's collation and SQLite's byte order differ.
        return sorted(map(health_from_row, rows), key=lambda h: h.provider)

    async def list_requests(self, query: RequestQuery) -> RequestPage:
        """One page of the request log (:mod:`metrics_svc.request_log`), newest first, in one
        statement."""
        stmt = requests_statement(query, self.dialect)
        with _storage_errors("cannot query usage records"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        entries = tuple(entry_from_row(row) for row in rows)
        if len(entries) <= query.page_size:
            return RequestPage(entries, "")
        entries = entries[: query.page_size]
        return RequestPage(entries, encode_token(query, entries[-1]))

    async def record_feedback(
        self, given: FeedbackInput, caller: FeedbackCaller, now: datetime
    ) -> tuple[StoredFeedback, bool]:
        """Store a score (replacing the same request and source's); returns it as stored and
        whether it replaced one. Raises FeedbackNotFound / FeedbackNotOwner
        (:func:`metrics_svc.feedback.record_feedback`)."""
        with _storage_errors("cannot store feedback"):
            return await record_feedback(self._engine, given, caller, now)

    async def list_feedback(self, after: int, size: int) -> list[StoredFeedback]:
        """At most ``size`` scores stored (or replaced) after sequence ``after``, in order."""
        with _storage_errors("cannot read feedback"):
            return await list_feedback(self._engine, after, size)

    async def quality_stats(self, start: datetime | None) -> list[QualityStats]:
        """Score counts and sums per model, category and source kind since ``start``."""
        with _storage_errors("cannot read feedback"):
            return await quality_stats(self._engine, start)

    async def get(self, record_id: str) -> UsageRow | None:
        """The stored row with id ``record_id``, if any."""
        stmt = select(usage_records).where(usage_records.c.id == record_id)
        with _storage_errors("cannot read usage records"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        fields = dict(row)
        fields["status"] = UsageStatus(fields["status"])
        return UsageRow(**fields)

    async def schema_revision(self) -> str | None:
        """The migration revision the database is at."""
        with _storage_errors("cannot read the schema revision"):
            return await schema.current_revision(self._engine)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    @contextlib.asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements all see the same data (on PostgreSQL; SQLite's
        driver runs each read on its own)."""
        async with self._engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn


def _create_parent_dir(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create directory for {database}: {exc.strerror}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets queries read while a batch is written; NORMAL is durable enough with WAL.
    cursor = dbapi_connection.cursor()
    try:
        for attempt in range(_WAL_ATTEMPTS):
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                # Switching a fresh file to WAL needs it alone; SQLite answers "database is
                # locked" at once (no busy wait) while another process opens it too.
                if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


_WAL_ATTEMPTS = 20


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy failures into :class:`StorageError` with a one-line reason."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"{action}: {_describe(exc)}") from exc
    except schema.MigrationError as exc:
        # Typically a database migrated by a newer release than this one.
        raise StorageError(f"{action}: cannot migrate the schema: {exc}") from exc


def _describe(exc: BaseException) -> str:
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
