"""QueryCosts in SQL: the database sums, counts and ranks; Python only prices and sorts.

One ``GROUP BY`` statement per level (totals, then groups) reads each matching row once. The
p95 is the nearest rank, the ``ceil(0.95 * n)``-th smallest duration, on both databases:
PostgreSQL's ``percentile_disc(0.95)`` returns the first value whose position ``i / n``
reaches 0.95, which is that one; SQLite has no percentile function, so each connection gets
:class:`NearestRank` as the aggregate ``nearest_rank_95`` (a window-function rank was
several times slower there).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.sql.functions import Function

from metrics_svc.costs import (
    CostFilter,
    CostGroup,
    CostQuery,
    CostSummary,
    Dimension,
    GroupKey,
    ReferencePrice,
    TimeBucket,
)
from metrics_svc.records import UsageStatus
from metrics_svc.tables import UtcDateTime, usage_records

__all__ = [
    "PERCENTILE",
    "LedgerSqliteConnection",
    "NearestRank",
    "conditions",
    "cost_statement",
    "group_from_row",
    "real_fallback",
    "summary_from_row",
]

#: The latency percentile a summary reports.
PERCENTILE = 95

_SQLITE_PERCENTILE = f"nearest_rank_{PERCENTILE}"
# strftime formats that cut SQLite's stored UTC text at the hour or day.
_SQLITE_FORMATS = {TimeBucket.HOUR: "%Y-%m-%d %H:00:00", TimeBucket.DAY: "%Y-%m-%d 00:00:00"}

# The usage source of a response-cache hit (metrics_service.proto, UsageRecord.source: the
# router reserves it for them). A hit counts whatever its saving: a free model's saves $0.
CACHE_SOURCE = "cache"


class NearestRank:
    """SQLite aggregate: the nearest-rank :data:`PERCENTILE` of its (non-null) inputs."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        """Take one row's value."""
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        """The ``ceil(PERCENTILE * n / 100)``-th smallest value, NULL without values."""
        if not self.values:
            return None
        self.values.sort()
        rank = -(-PERCENTILE * len(self.values) // 100)  # ceil in integers: no float rounding
        return self.values[rank - 1]


class LedgerSqliteConnection(sqlite3.Connection):
    """A SQLite connection that knows ``nearest_rank_95``; pass it as ``factory=``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # typeshed's aggregate protocol insists that finalize() returns an int.
        self.create_aggregate(_SQLITE_PERCENTILE, 1, NearestRank)  # type: ignore[arg-type]


def cost_statement(
    query: CostQuery,
    conditions: Sequence[ColumnElement[bool]],
    dialect: str,
    *,
    grouped: bool,
) -> Select[Any]:
    """One row per group (or a single totals row): the group's key columns, then figures.

    The figures are, in order: requests, prompt, completion and total tokens, cost,
    successes, failures, fallbacks, local requests, summed duration, the p95 duration,
    cached-read, cache-write and reasoning tokens, then cancellations, unpriced requests
    (remote, with tokens, at no cost) and requests with estimated usage, then the prompt,
    completion, cache-read and cache-write tokens of the priced rows (every other row), which
    the reference cost is computed from, then the response-cache hits and their saved cost.
    """
    table = usage_records
    priced = ~_unpriced(table)
    keys: list[ColumnElement[Any]] = []
    if grouped:
        keys = [table.c[d.value] for d in query.group_by]
        if query.bucket is not None:
            keys.append(_bucket_start(query.bucket, dialect))
    return (
        select(
            *keys,
            func.count(),
            func.sum(table.c.prompt_tokens),
            func.sum(table.c.completion_tokens),
            func.sum(table.c.total_tokens),
            func.sum(table.c.cost_usd),
            _count_if(table.c.status == UsageStatus.SUCCEEDED.value),
            _count_if(table.c.status == UsageStatus.FAILED.value),
            _count_if(real_fallback(table)),
            _count_if(table.c.local),
            func.sum(table.c.duration_ms),
            _percentile(table.c.duration_ms, dialect),
            func.sum(table.c.cache_read_tokens),
            func.sum(table.c.cache_write_tokens),
            func.sum(table.c.reasoning_tokens),
            _count_if(table.c.status == UsageStatus.CANCELLED.value),
            _count_if(_unpriced(table)),
            _count_if(table.c.usage_estimated),
            _sum_if(priced, table.c.prompt_tokens),
            _sum_if(priced, table.c.completion_tokens),
            _sum_if(priced, table.c.cache_read_tokens),
            _sum_if(priced, table.c.cache_write_tokens),
            _count_if(table.c.source == CACHE_SOURCE),
            func.sum(table.c.saved_cost_usd),
        )
        .where(*conditions)
        .group_by(*keys)
    )


def summary_from_row(figures: Sequence[Any], reference: ReferencePrice) -> CostSummary:
    """A :class:`CostSummary` from the figure columns of a :func:`cost_statement` row."""
    requests, prompt, completion, total, cost, successes, failures = figures[:7]
    fallbacks, local, duration_sum, p95 = figures[7:11]
    cache_read, cache_write, reasoning = (int(n or 0) for n in figures[11:14])
    cancellations, unpriced, estimated = figures[14:17]
    priced_tokens = (int(n or 0) for n in figures[17:21])
    cache_hits, cache_saved = figures[21:23]
    requests = int(requests)
    # Sums over no rows are NULL; PostgreSQL sums bigints as numeric (Decimal).
    prompt, completion, total = int(prompt or 0), int(completion or 0), int(total or 0)
    cost = float(cost or 0.0)
    fallbacks = int(fallbacks or 0)
    # Unpriced attempts cost 0 in the ledger because their price is unknown: against their
    # reference cost they would show as 100 % saved, so they are left out of both sides.
    reference_cost = reference.cost(*priced_tokens)
    savings = reference_cost - cost
    return CostSummary(
        requests=requests,
        successes=int(successes or 0),
        failures=int(failures or 0),
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cost_usd=cost,
        average_latency_ms=float(duration_sum) / requests if requests else 0.0,
        p95_latency_ms=float(p95 or 0.0),
        fallback_count=fallbacks,
        fallback_rate=fallbacks / requests if requests else 0.0,
        local_requests=int(local or 0),
        remote_requests=requests - int(local or 0),
        reference_cost_usd=reference_cost,
        savings_usd=savings,
        savings_percent=savings / reference_cost * 100 if reference_cost else 0.0,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        cancellations=int(cancellations or 0),
        unpriced_requests=int(unpriced or 0),
        estimated_requests=int(estimated or 0),
        cache_hits=int(cache_hits or 0),
        cache_saved_usd=float(cache_saved or 0.0),
    )


def group_from_row(query: CostQuery, row: Sequence[Any]) -> CostGroup:
    """A :class:`CostGroup` from a grouped :func:`cost_statement` row."""
    values: dict[Dimension, str] = dict(zip(query.group_by, row, strict=False))
    width = len(query.group_by)
    start: datetime | None = None
    if query.bucket is not None:
        start = row[width]
        width += 1
    key = GroupKey(
        provider=values.get(Dimension.PROVIDER),
        model=values.get(Dimension.MODEL),
        category=values.get(Dimension.CATEGORY),
        source=values.get(Dimension.SOURCE),
        api_key_id=values.get(Dimension.API_KEY),
        team_id=values.get(Dimension.TEAM),
        deployment=values.get(Dimension.DEPLOYMENT),
        bucket_start=start,
    )
    return CostGroup(key, summary_from_row(row[width:], query.reference))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _sum_if(condition: ColumnElement[bool], column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.sum(case((condition, column), else_=0))


def _unpriced(table: FromClause) -> ColumnElement[bool]:
    """Remote rows with tokens and no cost: their model has no known price."""
    return and_(~table.c.local, table.c.total_tokens > 0, table.c.cost_usd == 0)


def _percentile(column: ColumnElement[float], dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.percentile_disc(PERCENTILE / 100).within_group(column)
    return Function(_SQLITE_PERCENTILE, column, type_=column.type)


def _bucket_start(bucket: TimeBucket, dialect: str) -> ColumnElement[datetime]:
    """Start of the UTC hour or day of ``usage_records.time``, read back as an aware datetime.

    Literals, not bound parameters: PostgreSQL matches the GROUP BY expression to the selected
    one by text, and two parameters would make them differ.
    """
    time = usage_records.c.time
    if dialect == "postgresql":
        # date_trunc on timestamptz truncates in the session's time zone; convert to UTC first.
        utc = func.timezone(literal_column("'UTC'"), time)
        start: ColumnElement[Any] = func.date_trunc(literal_column(f"'{bucket.value}'"), utc)
    else:
        start = func.strftime(literal_column(f"'{_SQLITE_FORMATS[bucket]}'"), time)
    return type_coerce(start, UtcDateTime())


def real_fallback(table: FromClause = usage_records) -> ColumnElement[bool]:
    """Rows that moved their request to another model: ``fallback`` set and ``fallback_from``
    naming a model other than the row's own. Routers before 2026-11-30 also flagged retries
    of the same model after a fallback (``fallback_from`` = the row's model); those rows are
    retries, not fallbacks, and this keeps them out of the counts and the fallback list."""
    return and_(table.c.fallback.is_(True), table.c.fallback_from != table.c.model)


def conditions(
    start: datetime | None,
    end: datetime | None,
    wanted: CostFilter,
    table: FromClause = usage_records,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a window ``[start, end)`` (either bound may be open) and a
    filter, over ``table`` (``usage_records`` or an alias of it)."""
    found: list[ColumnElement[bool]] = []
    if start is not None:
        found.append(table.c.time >= start)
    if end is not None:
        found.append(table.c.time < end)
    columns = (
        (table.c.provider, wanted.providers),
        (table.c.model, wanted.models),
        (table.c.category, wanted.categories),
        (table.c.source, wanted.sources),
        (table.c.api_key_id, wanted.api_key_ids),
        (table.c.team_id, wanted.team_ids),
    )
    found.extend(column.in_(values) for column, values in columns if values)
    return found
