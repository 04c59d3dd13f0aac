"""Cost questions and their answers as plain values, and the arithmetic that answers them.

Aggregation happens in Python over the few columns a query selects; it keeps nearest-rank
p95 identical on SQLite and PostgreSQL. Moving sums into SQL is a later optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "CostFilter",
    "CostGroup",
    "CostQuery",
    "CostReport",
    "CostReportBuilder",
    "CostSample",
    "CostSummary",
    "Dimension",
    "GroupKey",
    "ReferencePrice",
    "TimeBucket",
    "bucket_start",
    "nearest_rank",
]


class Dimension(StrEnum):
    """What costs can be grouped by; each value is the ``usage_records`` column."""

    PROVIDER = "provider"
    MODEL = "model"
    CATEGORY = "category"
    SOURCE = "source"
    API_KEY = "api_key_id"


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


@dataclass(frozen=True, slots=True)
class ReferencePrice:
    """Prices of the model savings are measured against, in USD per million tokens."""

    model: str
    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What these tokens would have cost on the reference model."""
        return (
            prompt_tokens * self.input_per_million / 1e6
            + completion_tokens * self.output_per_million / 1e6
        )


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
    reference_cost_usd: float = 0.0
    savings_usd: float = 0.0
    #: ``savings_usd / reference_cost_usd * 100``, 0 when the reference cost is 0.
    savings_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Identity of a group; only the grouped-by fields are set."""

    provider: str | None = None
    model: str | None = None
    category: str | None = None
    source: str | None = None
    api_key_id: str | None = None
    bucket_start: datetime | None = None

    def sort_key(self) -> tuple[float, str, str, str, str, str]:
        """Groups are listed by bucket, then by dimension values."""
        when = self.bucket_start.timestamp() if self.bucket_start is not None else 0.0
        return (
            when,
            self.provider or "",
            self.model or "",
            self.category or "",
            self.source or "",
            self.api_key_id or "",
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


class CostSample(NamedTuple):
    """The columns of one record that aggregation needs."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    duration_ms: float
    succeeded: bool
    failed: bool
    fallback: bool
    local: bool


def nearest_rank(sorted_values: list[float], percent: int) -> float:
    """The nearest-rank ``percent`` percentile of ascending ``sorted_values`` (0 if empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-percent * len(sorted_values) // 100))  # ceil without float rounding
    return sorted_values[rank - 1]


def bucket_start(time: datetime, bucket: TimeBucket) -> datetime:
    """Start of the UTC hour or day ``time`` (aware, UTC) falls in."""
    start = time.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if bucket is TimeBucket.DAY else start


class _Accumulator:
    __slots__ = (
        "completion_tokens",
        "cost_usd",
        "durations",
        "failures",
        "fallbacks",
        "local",
        "prompt_tokens",
        "successes",
        "total_tokens",
    )

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.total_tokens = 0
        self.cost_usd = 0.0
        self.successes = 0
        self.failures = 0
        self.fallbacks = 0
        self.local = 0
        self.durations: list[float] = []

    def add(self, sample: CostSample) -> None:
        self.prompt_tokens += sample.prompt_tokens
        self.completion_tokens += sample.completion_tokens
        self.total_tokens += sample.total_tokens
        self.cost_usd += sample.cost_usd
        self.successes += sample.succeeded
        self.failures += sample.failed
        self.fallbacks += sample.fallback
        self.local += sample.local
        self.durations.append(sample.duration_ms)

    def summary(self, reference: ReferencePrice) -> CostSummary:
        requests = len(self.durations)
        durations = sorted(self.durations)
        reference_cost = reference.cost(self.prompt_tokens, self.completion_tokens)
        savings = reference_cost - self.cost_usd
        return CostSummary(
            requests=requests,
            successes=self.successes,
            failures=self.failures,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            cost_usd=self.cost_usd,
            average_latency_ms=sum(durations) / requests if requests else 0.0,
            p95_latency_ms=nearest_rank(durations, 95),
            fallback_count=self.fallbacks,
            fallback_rate=self.fallbacks / requests if requests else 0.0,
            local_requests=self.local,
            remote_requests=requests - self.local,
            reference_cost_usd=reference_cost,
            savings_usd=savings,
            savings_percent=savings / reference_cost * 100 if reference_cost else 0.0,
        )


class CostReportBuilder:
    """Feeds samples into the totals and their group; :meth:`build` makes the report."""

    def __init__(self, query: CostQuery) -> None:
        self._query = query
        self._totals = _Accumulator()
        self._groups: dict[GroupKey, _Accumulator] = {}

    @property
    def grouped(self) -> bool:
        """Whether the query asks for groups at all."""
        return bool(self._query.group_by) or self._query.bucket is not None

    def add(
        self, sample: CostSample, dimensions: dict[Dimension, str], time: datetime | None
    ) -> None:
        """Count one record; ``dimensions`` and ``time`` are needed only when grouping."""
        self._totals.add(sample)
        if not self.grouped:
            return
        chosen = {d: dimensions[d] for d in self._query.group_by}
        bucket = self._query.bucket
        key = GroupKey(
            provider=chosen.get(Dimension.PROVIDER),
            model=chosen.get(Dimension.MODEL),
            category=chosen.get(Dimension.CATEGORY),
            source=chosen.get(Dimension.SOURCE),
            api_key_id=chosen.get(Dimension.API_KEY),
            bucket_start=bucket_start(time, bucket) if bucket and time is not None else None,
        )
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Accumulator()
        group.add(sample)

    def build(self) -> CostReport:
        """The totals and the groups, ordered by bucket and then dimension values."""
        reference = self._query.reference
        groups = tuple(
            CostGroup(key, acc.summary(reference))
            for key, acc in sorted(self._groups.items(), key=lambda kv: kv[0].sort_key())
        )
        return CostReport(self._totals.summary(reference), groups, reference.model)
