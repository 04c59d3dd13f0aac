"""The usage ledger's storage: async SQLAlchemy over SQLite or PostgreSQL, plain values in/out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from metrics_svc.costs import CostQuery, CostReport, CostReportBuilder, CostSample, Dimension
from metrics_svc.errors import StorageError
from metrics_svc.models import Base, usage_records
from metrics_svc.records import UsageRow, UsageStatus

__all__ = ["CONNECT_TIMEOUT_S", "Repository", "safe_url"]

#: Seconds to wait for a PostgreSQL connection before calling the database unreachable.
CONNECT_TIMEOUT_S = 10.0

_INSERTS: dict[str, Callable[..., Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}

# Columns every cost query reads, in the order _sample() expects them.
_SAMPLE_COLUMNS = (
    usage_records.c.prompt_tokens,
    usage_records.c.completion_tokens,
    usage_records.c.total_tokens,
    usage_records.c.cost_usd,
    usage_records.c.duration_ms,
    usage_records.c.status,
    usage_records.c.fallback,
    usage_records.c.local,
)


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
        if dialect not in _INSERTS:
            raise StorageError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
        self._insert = _INSERTS[dialect]

    @classmethod
    async def create(cls, url: str) -> Repository:
        """Connect to ``url`` and create the tables that are missing.

        Raises :class:`StorageError` with a one-line reason when the URL is unusable or the
        database cannot be reached.
        """
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError("invalid database url") from None
        backend = parsed.get_backend_name()
        if backend not in _INSERTS:
            raise StorageError(
                f"unsupported database {backend!r}: use sqlite+aiosqlite:// or "
                "postgresql+asyncpg://"
            )
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            _create_parent_dir(parsed.database)
        else:
            connect_args["timeout"] = CONNECT_TIMEOUT_S
        try:
            engine = create_async_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(
                f"unusable database driver {parsed.drivername!r} ({_describe(exc)}); "
                "use sqlite+aiosqlite:// or postgresql+asyncpg://"
            ) from exc
        if backend == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            with _storage_errors("cannot open database"):
                async with engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
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
        table = usage_records
        stmt = (
            self._insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.id])
            .returning(table.c.id)
        )
        with _storage_errors("cannot store usage records"):
            async with self._engine.begin() as conn:
                result = await conn.execute(stmt, [_params(row) for row in rows])
                inserted = len(result.all())
        return inserted, len(rows) - inserted

    async def query_costs(self, query: CostQuery) -> CostReport:
        """Aggregate the records matching ``query``; see :class:`CostSummary` for the figures."""
        table = usage_records
        dims = query.group_by
        columns = [*_SAMPLE_COLUMNS, *(table.c[d.value] for d in dims)]
        if query.bucket is not None:
            columns.append(table.c.time)
        stmt = select(*columns).where(*_conditions(query))
        builder = CostReportBuilder(query)
        first_dim = len(_SAMPLE_COLUMNS)
        with _storage_errors("cannot query usage records"):
            async with self._engine.connect() as conn:
                result = await conn.stream(stmt)
                async for row in result:
                    values: dict[Dimension, str] = {
                        d: row[first_dim + i] for i, d in enumerate(dims)
                    }
                    time = row[-1] if query.bucket is not None else None
                    builder.add(_sample(row), values, time)
        return builder.build()

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

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()


def _conditions(query: CostQuery) -> list[ColumnElement[bool]]:
    table = usage_records
    conditions: list[ColumnElement[bool]] = []
    if query.start is not None:
        conditions.append(table.c.time >= query.start)
    if query.end is not None:
        conditions.append(table.c.time < query.end)
    wanted = (
        (table.c.provider, query.filter.providers),
        (table.c.model, query.filter.models),
        (table.c.category, query.filter.categories),
        (table.c.source, query.filter.sources),
        (table.c.api_key_id, query.filter.api_key_ids),
    )
    conditions.extend(column.in_(values) for column, values in wanted if values)
    return conditions


def _sample(row: Sequence[Any]) -> CostSample:
    prompt, completion, total, cost, duration, status, fallback, local = row[:8]
    return CostSample(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cost_usd=cost,
        duration_ms=duration,
        succeeded=status == UsageStatus.SUCCEEDED,
        failed=status == UsageStatus.FAILED,
        fallback=bool(fallback),
        local=bool(local),
    )


def _params(row: UsageRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "request_id": row.request_id,
        "attempt": row.attempt,
        "time": row.time,
        "provider": row.provider,
        "model": row.model,
        "category": row.category,
        "task_type": row.task_type,
        "source": row.source,
        "api_key_id": row.api_key_id,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.total_tokens,
        "cost_usd": row.cost_usd,
        "duration_ms": row.duration_ms,
        "ttft_ms": row.ttft_ms,
        "status": row.status.value,
        "error_type": row.error_type,
        "fallback": row.fallback,
        "fallback_from": row.fallback_from,
        "trace_id": row.trace_id,
        "metadata": dict(row.metadata),
        "local": row.local,
        "streamed": row.streamed,
    }


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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy failures into :class:`StorageError` with a one-line reason."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"{action}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
