"""The usage ledger's storage: async SQLAlchemy over SQLite or PostgreSQL, plain values in/out."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, case, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from metrics_svc import schema
from metrics_svc.aggregates import (
    LedgerSqliteConnection,
    cost_statement,
    group_from_row,
    summary_from_row,
)
from metrics_svc.costs import CostFilter, CostQuery, CostReport
from metrics_svc.errors import StorageError
from metrics_svc.fallbacks import FallbackEvent, FallbackQuery
from metrics_svc.health import HealthQuery, ProviderHealth
from metrics_svc.models import usage_records
from metrics_svc.records import UsageRow, UsageStatus

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
        """Connect to ``url`` and migrate the database to the newest schema.

        Raises :class:`StorageError` with a one-line reason when the URL is unusable or the
        database cannot be reached.
        """
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError("invalid database url") from None
        backend = parsed.get_backend_name()
        if backend not in _DIALECTS:
            raise StorageError(
                f"unsupported database {backend!r}: use sqlite+aiosqlite:// or "
                "postgresql+asyncpg://"
            )
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
        # Bound at the driver, one prepared statement per batch: through Core's insert, every
        # value of every row went through SQLAlchemy's parameter processing, most of the
        # service's CPU per record.
        # Inserted in id order: concurrent batches sharing ids (replays) then lock those ids in
        # the same order, where PostgreSQL would otherwise detect a deadlock and fail one.
        ordered = sorted(map(_row_values, rows), key=_by_id)
        columns: list[Sequence[Any]] = list(zip(*ordered, strict=True))
        columns[_METADATA] = [json.dumps(m) if m else _EMPTY_JSON for m in columns[_METADATA]]
        with _storage_errors("cannot store usage records"):
            if self._sqlite:
                columns[_TIME] = [_sqlite_time(time) for time in columns[_TIME]]
                async with self._engine.begin() as conn:
                    # One execution per row; an ignored conflict changes no row.
                    result = await conn.exec_driver_sql(
                        _SQLITE_INSERT, list(zip(*columns, strict=True))
                    )
            else:
                columns[_TIME] = [_utc(time) for time in columns[_TIME]]
                # One statement, so a transaction of its own (no BEGIN and COMMIT round trips);
                # each column travels as one array, unnested in order.
                async with self._autocommit.connect() as conn:
                    result = await conn.exec_driver_sql(_PG_INSERT, tuple(columns))
            inserted = result.rowcount
        return inserted, len(rows) - inserted

    async def query_costs(self, query: CostQuery) -> CostReport:
        """Aggregate the records matching ``query``; see :class:`CostSummary` for the figures."""
        conditions = _conditions(query.start, query.end, query.filter)
        grouped = bool(query.group_by) or query.bucket is not None
        totals_stmt = cost_statement(query, conditions, self.dialect, grouped=False)
        groups_stmt = cost_statement(query, conditions, self.dialect, grouped=True)
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
        table = usage_records
        previous = usage_records.alias("previous")
        stmt = (
            select(
                table.c.request_id,
                table.c.attempt,
                table.c.time,
                table.c.model,
                table.c.provider,
                table.c.fallback_from,
                previous.c.error_type,
                table.c.status,
                table.c.category,
                table.c.source,
                table.c.trace_id,
            )
            .select_from(
                table.outerjoin(
                    previous,
                    and_(
                        previous.c.request_id == table.c.request_id,
                        previous.c.attempt == table.c.attempt - 1,
                    ),
                )
            )
            .where(table.c.fallback.is_(True), *_conditions(query.start, query.end, query.filter))
            .order_by(table.c.time.desc(), table.c.attempt.desc(), table.c.id.desc())
            .limit(query.limit)
        )
        with _storage_errors("cannot query usage records"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        return [
            FallbackEvent(
                request_id=row[0],
                attempt=row[1],
                time=row[2],
                model=row[3],
                provider=row[4],
                fallback_from=row[5],
                reason=row[6] or "",
                status=UsageStatus(row[7]),
                category=row[8],
                source=row[9],
                trace_id=row[10],
            )
            for row in rows
        ]

    async def provider_health(self, query: HealthQuery) -> list[ProviderHealth]:
        """Per provider with usage in the window: its figures, and its latest outcomes ever;
        both count only the records ``query.filter`` matches."""
        table = usage_records
        succeeded, failed = UsageStatus.SUCCEEDED.value, UsageStatus.FAILED.value
        in_window = (
            select(
                table.c.provider,
                func.count().label("requests"),
                func.sum(case((table.c.status == succeeded, 1), else_=0)).label("successes"),
                func.sum(case((table.c.status == failed, 1), else_=0)).label("failures"),
                func.sum(table.c.duration_ms).label("duration_sum"),
            )
            .where(*_conditions(query.start, query.end, query.filter))
            .group_by(table.c.provider)
            .subquery("in_window")
        )
        # Correlated lookups, each a seek on ix_usage_records_provider_outcome; one statement
        # so the figures and the latest outcomes come from the same snapshot. The filter
        # applies here too: a tenant's "last failure" must not be another tenant's.
        past = usage_records.alias("past")
        matching = _conditions(None, None, query.filter, past)

        def latest(status: str, column: ColumnElement[Any]) -> Any:
            return (
                select(column)
                .where(past.c.provider == in_window.c.provider, past.c.status == status, *matching)
                .order_by(past.c.time.desc(), past.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )

        stmt = select(
            in_window,
            latest(succeeded, past.c.time),
            latest(failed, past.c.time),
            latest(failed, past.c.error_type),
        )
        with _storage_errors("cannot query usage records"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        health = []
        for provider, requests, successes, failures, duration_sum, ok, failure, error in rows:
            health.append(
                ProviderHealth(
                    provider=provider,
                    requests=int(requests),
                    successes=int(successes),
                    failures=int(failures),
                    success_rate=int(successes) / int(requests),
                    average_latency_ms=float(duration_sum) / int(requests),
                    last_success_time=ok,
                    last_failure_time=failure,
                    last_error_type=error or "",
                )
            )
        # Sorted here, not in SQL: PostgreSQL's collation and SQLite's byte order differ.
        return sorted(health, key=lambda h: h.provider)

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


def _conditions(
    start: datetime | None,
    end: datetime | None,
    wanted: CostFilter,
    table: FromClause = usage_records,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(table.c.time >= start)
    if end is not None:
        conditions.append(table.c.time < end)
    columns = (
        (table.c.provider, wanted.providers),
        (table.c.model, wanted.models),
        (table.c.category, wanted.categories),
        (table.c.source, wanted.sources),
        (table.c.api_key_id, wanted.api_key_ids),
    )
    conditions.extend(column.in_(values) for column, values in columns if values)
    return conditions


# The columns of an INSERT (each named like the UsageRow field it stores), with the PostgreSQL
# array type their values travel in (metadata as JSON text, cast to jsonb by the statement).
_COLUMNS = (
    ("id", "text[]"),
    ("request_id", "text[]"),
    ("attempt", "int4[]"),
    ("time", "timestamptz[]"),
    ("provider", "text[]"),
    ("model", "text[]"),
    ("category", "text[]"),
    ("task_type", "text[]"),
    ("source", "text[]"),
    ("api_key_id", "text[]"),
    ("prompt_tokens", "int8[]"),
    ("completion_tokens", "int8[]"),
    ("total_tokens", "int8[]"),
    ("cost_usd", "float8[]"),
    ("duration_ms", "float8[]"),
    ("ttft_ms", "float8[]"),
    ("status", "text[]"),
    ("error_type", "text[]"),
    ("fallback", "bool[]"),
    ("fallback_from", "text[]"),
    ("trace_id", "text[]"),
    ("metadata", "text[]"),
    ("local", "bool[]"),
    ("streamed", "bool[]"),
    ("client_request_id", "text[]"),
)
_NAMES = ", ".join(f'"{name}"' for name, _ in _COLUMNS)
_PLACEHOLDERS = ", ".join("?" for _ in _COLUMNS)
_SQLITE_INSERT = (
    f'INSERT INTO usage_records ({_NAMES}) VALUES ({_PLACEHOLDERS}) ON CONFLICT ("id") DO NOTHING'
)
_ARRAYS = ", ".join(f"${i}::{array}" for i, (_, array) in enumerate(_COLUMNS, start=1))
_SELECTED = ", ".join(
    f'"{name}"::jsonb' if name == "metadata" else f'"{name}"' for name, _ in _COLUMNS
)
_PG_INSERT = (
    f"INSERT INTO usage_records ({_NAMES}) "
    f'SELECT {_SELECTED} FROM unnest({_ARRAYS}) WITH ORDINALITY AS batch({_NAMES}, "position") '
    'ORDER BY "position" ON CONFLICT ("id") DO NOTHING'
)
_FIELDS = tuple(name for name, _ in _COLUMNS)
# A row's values in _COLUMNS order (time and metadata still to convert), in one C call.
_row_values = attrgetter(*_FIELDS)
_TIME, _METADATA = _FIELDS.index("time"), _FIELDS.index("metadata")
_by_id = itemgetter(_FIELDS.index("id"))
_EMPTY_JSON = json.dumps({})


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.utcoffset() is None:
        raise StorageError(f"naive datetime {value!r}: the ledger stores aware UTC times")
    return value.astimezone(UTC)


def _sqlite_time(value: datetime) -> str:
    # What UtcDateTime and SQLAlchemy's SQLite DATETIME store: naive UTC, always six fractional
    # digits, so stored times compare correctly as text.
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


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
