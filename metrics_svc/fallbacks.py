"""Fallback events: attempts against a model other than the request's first, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from metrics_svc.costs import CostFilter
from metrics_svc.records import UsageStatus

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "FallbackEvent", "FallbackQuery"]

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
    """One attempt with ``fallback`` set, and the error of the attempt before it."""

    request_id: str
    attempt: int
    time: datetime
    model: str
    provider: str
    #: The model tried just before, as the router reported it.
    fallback_from: str
    #: ``error_type`` of attempt ``attempt - 1`` of the same request; empty if not recorded.
    reason: str
    #: Outcome of this attempt.
    status: UsageStatus
    category: str
    source: str
    trace_id: str
