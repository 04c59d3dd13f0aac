"""Provider health derived from the ledger: how each provider fared in a window; the
question, the answer and the SQL between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select

from metrics_svc.aggregates import conditions
from metrics_svc.costs import CostFilter
from metrics_svc.records import UsageStatus
from metrics_svc.tables import usage_records

__all__ = [
    "DEFAULT_HEALTH_WINDOW",
    "HealthQuery",
    "ProviderHealth",
    "health_from_row",
    "health_statement",
]

#: Window of a health query that names no start: this long before its end.
DEFAULT_HEALTH_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class HealthQuery:
    """Health of every provider with usage in ``[start, end)`` among the records ``filter``
    matches (a non-admin caller's own key: another tenant's traffic stays out of its view)."""

    start: datetime
    end: datetime
    filter: CostFilter = field(default_factory=CostFilter)


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """One provider's figures; counts and latency cover the window, ``last_*`` all time."""

    provider: str
    requests: int
    successes: int
    #: Attempts with status failed; cancelled ones count as requests only.
    failures: int
    #: ``successes / requests``.
    success_rate: float
    average_latency_ms: float
    last_success_time: datetime | None
    last_failure_time: datetime | None
    #: ``error_type`` of the latest failure; empty without failures.
    last_error_type: str


def health_statement(query: HealthQuery) -> Select[Any]:
    """Per provider with usage in the window: its figures, and its latest outcomes ever; both
    count only the records ``query.filter`` matches. Rows for :func:`health_from_row`."""
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
        .where(*conditions(query.start, query.end, query.filter))
        .group_by(table.c.provider)
        .subquery("in_window")
    )
    # Correlated lookups, each a seek on ix_usage_records_provider_outcome; one statement
    # so the figures and the latest outcomes come from the same snapshot. The filter
    # applies here too: a tenant's "last failure" must not be another tenant's.
    past = usage_records.alias("past")
    matching = conditions(None, None, query.filter, past)

    def latest(status: str, column: ColumnElement[Any]) -> Any:
        return (
            select(column)
            .where(past.c.provider == in_window.c.provider, past.c.status == status, *matching)
            .order_by(past.c.time.desc(), past.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    return select(
        in_window,
        latest(succeeded, past.c.time),
        latest(failed, past.c.time),
        latest(failed, past.c.error_type),
    )


def health_from_row(row: Sequence[Any]) -> ProviderHealth:
    """One row of :func:`health_statement` as a provider's health."""
    provider, requests, successes, failures, duration_sum, ok, failure, error = row
    return ProviderHealth(
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
