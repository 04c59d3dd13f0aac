"""Provider health derived from the ledger: how each provider fared in a window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from metrics_svc.costs import CostFilter

__all__ = ["DEFAULT_HEALTH_WINDOW", "HealthQuery", "ProviderHealth"]

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
