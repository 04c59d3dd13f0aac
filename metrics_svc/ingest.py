"""RecordUsage's insert, derived from the ``usage_records`` table.

The statements name every column of :data:`metrics_svc.tables.usage_records` and read each
value from the :class:`UsageRow` field of the same name, so a column added to the table (with
its migration and its row field) is stored without touching this module.

Bound at the driver, one prepared statement per batch: through Core's insert, every value of
every row went through SQLAlchemy's parameter processing, most of the service's CPU per record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Double, Integer, String
from sqlalchemy.ext.asyncio import AsyncEngine

from metrics_svc.errors import StorageError
from metrics_svc.records import UsageRow
from metrics_svc.tables import UtcDateTime, usage_records

__all__ = ["COLUMNS", "insert_postgresql", "insert_sqlite"]

#: Names of the inserted columns, in table order; each is also the :class:`UsageRow` field
#: whose value it stores.
COLUMNS = tuple(column.name for column in usage_records.columns)

# The PostgreSQL array type a column's values travel in, by column type (BigInteger before
# Integer, its base class). JSON travels as text, cast to jsonb by the statement.
_PG_ARRAYS: tuple[tuple[type[Any], str], ...] = (
    (String, "text[]"),
    (BigInteger, "int8[]"),
    (Integer, "int4[]"),
    (Double, "float8[]"),
    (Boolean, "bool[]"),
    (UtcDateTime, "timestamptz[]"),
    (JSON, "text[]"),
)


def _pg_array(column: Column[Any]) -> str:
    for kind, array in _PG_ARRAYS:
        if isinstance(column.type, kind):
            return array
    raise TypeError(f"usage_records.{column.name}: no PostgreSQL array type for {column.type!r}")


_NAMES = ", ".join(f'"{name}"' for name in COLUMNS)
_PLACEHOLDERS = ", ".join("?" for _ in COLUMNS)
_SQLITE_INSERT = (
    f'INSERT INTO usage_records ({_NAMES}) VALUES ({_PLACEHOLDERS}) ON CONFLICT ("id") DO NOTHING'
)
_ARRAYS = ", ".join(
    f"${i}::{_pg_array(column)}" for i, column in enumerate(usage_records.columns, start=1)
)
_SELECTED = ", ".join(
    f'"{column.name}"::jsonb' if isinstance(column.type, JSON) else f'"{column.name}"'
    for column in usage_records.columns
)
_PG_INSERT = (
    f"INSERT INTO usage_records ({_NAMES}) "
    f'SELECT {_SELECTED} FROM unnest({_ARRAYS}) WITH ORDINALITY AS batch({_NAMES}, "position") '
    'ORDER BY "position" ON CONFLICT ("id") DO NOTHING'
)
# A row's values in COLUMNS order (times and JSON still to convert), in one C call.
_row_values = attrgetter(*COLUMNS)
_TIMES = tuple(
    i for i, column in enumerate(usage_records.columns) if isinstance(column.type, UtcDateTime)
)
_JSONS = tuple(i for i, column in enumerate(usage_records.columns) if isinstance(column.type, JSON))
_by_id = itemgetter(COLUMNS.index("id"))
_EMPTY_JSON = json.dumps({})


async def insert_sqlite(engine: AsyncEngine, rows: Sequence[UsageRow]) -> int:
    """Store ``rows`` in one SQLite transaction; returns how many were new."""
    columns = _columns(rows)
    for i in _TIMES:
        columns[i] = [_sqlite_time(time) for time in columns[i]]
    async with engine.begin() as conn:
        # One execution per row; an ignored conflict changes no row.
        result = await conn.exec_driver_sql(_SQLITE_INSERT, list(zip(*columns, strict=True)))
    return result.rowcount


async def insert_postgresql(autocommit: AsyncEngine, rows: Sequence[UsageRow]) -> int:
    """Store ``rows`` with one PostgreSQL statement on an autocommit engine; returns how many
    were new."""
    columns = _columns(rows)
    for i in _TIMES:
        columns[i] = [_utc(time) for time in columns[i]]
    # One statement, so a transaction of its own (no BEGIN and COMMIT round trips); each column
    # travels as one array, unnested in order.
    async with autocommit.connect() as conn:
        result = await conn.exec_driver_sql(_PG_INSERT, tuple(columns))
    return result.rowcount


def _columns(rows: Sequence[UsageRow]) -> list[Sequence[Any]]:
    """The values of ``rows`` column by column, JSON as text.

    Inserted in id order: concurrent batches sharing ids (replays) then lock those ids in the
    same order, where PostgreSQL would otherwise detect a deadlock and fail one.
    """
    ordered = sorted(map(_row_values, rows), key=_by_id)
    columns: list[Sequence[Any]] = list(zip(*ordered, strict=True))
    for i in _JSONS:
        columns[i] = [json.dumps(m) if m else _EMPTY_JSON for m in columns[i]]
    return columns


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
