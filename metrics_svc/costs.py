"""Cost questions and their answers as plain values.

:mod:`metrics_svc.aggregates` turns a question into SQL and the rows into an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "CostFilter",
    "CostGroup",
    "CostQuery",
    "CostReport",
    "CostSummary",
    "Dimension",
    "GroupKey",
    "ReferencePrice",
    "TimeBucket",
]


class Dimension(StrEnum):
    """What costs can be grouped by; each value is the ``usage_records`` column."""

    PROVIDER = "provider"
    MODEL = "model"
    CATEGORY = "category"
    SOURCE = "source"
    API_KEY = "api_key_id"
    TEAM = "team_id"
    DEPLOYMENT = "deployment"


class TimeBucket(StrEnum):
    """Width of a time group; buckets start on UTC hour or day boundaries."""

    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class CostFilter:
    """Restricts a query to matching records; an empty tuple matches everything."""

    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReferencePrice:
    """Prices of the model savings are measured against, in USD per million tokens.

    ``cache_read_per_million`` / ``cache_write_per_million`` price the prompt tokens read from /
    written to the provider's prompt cache; None charges them at ``input_per_million``.
    """

    model: str
    input_per_million: float
    output_per_million: float
    cache_read_per_million: float | None = None
    cache_write_per_million: float | None = None

    def cost(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """What these tokens would have cost on the reference model, in USD.

        The cache counts are parts of ``prompt_tokens`` (as in the ledger), so only the rest
        is charged at the input rate.
        """
        read_rate = self.cache_read_per_million
        write_rate = self.cache_write_per_million
        uncached = max(prompt_tokens - cache_read_tokens - cache_write_tokens, 0)
        return (
            uncached * self.input_per_million
            + cache_read_tokens * (self.input_per_million if read_rate is None else read_rate)
            + cache_write_tokens * (self.input_per_million if write_rate is None else write_rate)
            + completion_tokens * self.output_per_million
        ) / 1e6


@dataclass(frozen=True, slots=True)
class CostQuery:
    """One cost question: a window ``[start, end)``, a filter, groups and a reference price."""

    reference: ReferencePrice
    #: Inclusive; None means the beginning of the ledger.
    start: datetime | None = None
    #: Exclusive; None means no upper bound.
    end: datetime | None = None
    filter: CostFilter = field(default_factory=CostFilter)
    group_by: tuple[Dimension, ...] = ()
    bucket: TimeBucket | None = None


@dataclass(frozen=True, slots=True)
class CostSummary:
    """Aggregates over a set of usage records."""

    requests: int = 0
    successes: int = 0
    #: Attempts with status failed; cancelled attempts are neither successes nor failures.
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    average_latency_ms: float = 0.0
    #: Nearest-rank 95th percentile of ``duration_ms``.
    p95_latency_ms: float = 0.0
    fallback_count: int = 0
    #: ``fallback_count / requests``, 0 without requests.
    fallback_rate: float = 0.0
    local_requests: int = 0
    remote_requests: int = 0
    #: What the priced attempts' tokens would have cost on the reference model: attempts in
    #: ``unpriced_requests`` are left out, as their cost is unknown, not zero.
    reference_cost_usd: float = 0.0
    #: ``reference_cost_usd - cost_usd``, over priced attempts only.
    savings_usd: float = 0.0
    #: ``savings_usd / reference_cost_usd * 100``, 0 when the reference cost is 0.
    savings_percent: float = 0.0
    #: Parts of ``prompt_tokens`` read from / written to the prompt cache, and the part of
    #: ``completion_tokens`` spent reasoning.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: Attempts with status cancelled: ``requests = successes + failures + cancellations``.
    cancellations: int = 0
    #: Attempts of remote providers with tokens and no cost: their model has no known price.
    unpriced_requests: int = 0
    #: Attempts whose token counts (and cost) are partly the router's estimate.
    estimated_requests: int = 0
    # Requests answered from the response cache ($0) and what they would have cost upstream.
    cache_hits: int = 0
    cache_saved_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Identity of a group; only the grouped-by fields are set."""

    provider: str | None = None
    model: str | None = None
    category: str | None = None
    source: str | None = None
    api_key_id: str | None = None
    bucket_start: datetime | None = None
    team_id: str | None = None
    deployment: str | None = None

    def sort_key(self) -> tuple[float, str, str, str, str, str, str, str]:
        """Groups are listed by bucket, then by dimension values."""
        when = self.bucket_start.timestamp() if self.bucket_start is not None else 0.0
        return (
            when,
            self.provider or "",
            self.model or "",
            self.category or "",
            self.source or "",
            self.api_key_id or "",
            self.team_id or "",
            self.deployment or "",
        )


@dataclass(frozen=True, slots=True)
class CostGroup:
    """One group of a report."""

    key: GroupKey
    summary: CostSummary


@dataclass(frozen=True, slots=True)
class CostReport:
    """The answer to a :class:`CostQuery`."""

    totals: CostSummary
    groups: tuple[CostGroup, ...]
    reference_model: str
