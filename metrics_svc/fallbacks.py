"""Fallback events: attempts that moved a request to another model than its previous attempt's,
and why; the question, the answer and the SQL between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, select

from metrics_svc.aggregates import conditions, real_fallback
from metrics_svc.costs import CostFilter
from metrics_svc.records import UsageStatus
from metrics_svc.tables import usage_records

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "FallbackEvent",
    "FallbackQuery",
    "event_from_row",
    "fallback_statement",
]

#: Events returned when a request sets no page size.
DEFAULT_PAGE_SIZE = 50
#: Most events one request may ask for.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class FallbackQuery:
    """Which fallback events to list: a window ``[start, end)``, a filter and a count."""

    #: Inclusive; None means the beginning of the ledger.
    start: datetime | None = None
    #: Exclusive; None means no upper bound.
    end: datetime | None = None
    #: Applies to the fallback attempt itself (its provider, model...).
    filter: CostFilter = field(default_factory=CostFilter)
    #: Most events returned, newest first.
    limit: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class FallbackEvent:
    """One attempt that fell back to another model, and why."""

    request_id: str
    attempt: int
    time: datetime
    model: str
    provider: str
    #: The model tried just before, as the router reported it.
    fallback_from: str
    #: The reason the router recorded (``RATE_LIMITED``, ``HEDGE``, ``BREAKER_OPEN``...); for
    #: rows from before revision 0004, ``error_type`` of attempt ``attempt - 1`` of the same
    #: request; empty if neither was recorded.
    reason: str
    #: Outcome of this attempt.
    status: UsageStatus
    category: str
    source: str
    trace_id: str


def fallback_statement(query: FallbackQuery) -> Select[Any]:
    """Fallback attempts (:func:`~metrics_svc.aggregates.real_fallback`: a retry of the same
    model is not one) in the window and filter, newest first, each with its stored reason and
    the error of the attempt before it (the reason of rows from before revision 0004); rows
    for :func:`event_from_row`."""
    table = usage_records
    previous = usage_records.alias("previous")
    return (
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
            table.c.fallback_reason,
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
        .where(real_fallback(table), *conditions(query.start, query.end, query.filter))
        .order_by(table.c.time.desc(), table.c.attempt.desc(), table.c.id.desc())
        .limit(query.limit)
    )


def event_from_row(row: Sequence[Any]) -> FallbackEvent:
    """One row of :func:`fallback_statement` as an event."""
    return FallbackEvent(
        request_id=row[0],
        attempt=row[1],
        time=row[2],
        model=row[3],
        provider=row[4],
        fallback_from=row[5],
        reason=row[11] or row[6] or "",
        status=UsageStatus(row[7]),
        category=row[8],
        source=row[9],
        trace_id=row[10],
    )
