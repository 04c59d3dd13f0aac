"""Protobuf messages of ``llmrouter.v1.MetricsService`` to plain values and back.

With the servicer, the only metrics module that touches ``*_pb2`` types. Requests are
validated here: a bad field raises the matching :class:`MetricsError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import overload

from google.protobuf import duration_pb2, timestamp_pb2

from llmrouter.field_limits import MAX_TOKEN_COUNT
from llmrouter.request_ids import REQUEST_ID_MAX_CHARS
from llmrouter.v1 import metrics_service_pb2 as pb
from metrics_svc import request_log
from metrics_svc.costs import (
    CostFilter,
    CostQuery,
    CostReport,
    CostSummary,
    Dimension,
    GroupKey,
    ReferencePrice,
    TimeBucket,
)
from metrics_svc.errors import (
    InvalidFallbackQuery,
    InvalidHealthQuery,
    InvalidQuery,
    InvalidRecord,
    InvalidRequestsQuery,
    RecordViolation,
)
from metrics_svc.fallbacks import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, FallbackEvent, FallbackQuery
from metrics_svc.provider_health import DEFAULT_HEALTH_WINDOW, HealthQuery, ProviderHealth
from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.request_log import RequestFilter, RequestPage, RequestQuery

__all__ = [
    "NOT_STORED",
    "RENAMED",
    "SOURCE_FIELDS",
    "cost_query",
    "events_to_pb",
    "fallback_query",
    "health_query",
    "health_to_pb",
    "record_usage_response",
    "report_to_pb",
    "requests_query",
    "requests_to_pb",
    "rows_from_records",
]

_STATUSES = {
    pb.USAGE_STATUS_SUCCEEDED: UsageStatus.SUCCEEDED,
    pb.USAGE_STATUS_FAILED: UsageStatus.FAILED,
    pb.USAGE_STATUS_CANCELLED: UsageStatus.CANCELLED,
}
_STATUS_PB = {status: value for value, status in _STATUSES.items()}
_DIMENSIONS = {
    pb.DIMENSION_PROVIDER: Dimension.PROVIDER,
    pb.DIMENSION_MODEL: Dimension.MODEL,
    pb.DIMENSION_CATEGORY: Dimension.CATEGORY,
    pb.DIMENSION_SOURCE: Dimension.SOURCE,
    pb.DIMENSION_API_KEY: Dimension.API_KEY,
    pb.DIMENSION_TEAM: Dimension.TEAM,
    pb.DIMENSION_DEPLOYMENT: Dimension.DEPLOYMENT,
}
_BUCKETS = {pb.TIME_BUCKET_HOUR: TimeBucket.HOUR, pb.TIME_BUCKET_DAY: TimeBucket.DAY}

# The range a google.protobuf.Timestamp may hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Requests with an optional [start_time, end_time) window.
_Windowed = (
    pb.QueryCostsRequest
    | pb.ListFallbackEventsRequest
    | pb.GetProviderHealthRequest
    | pb.ListRequestsRequest
)


# --- RecordUsage ---------------------------------------------------------------------------

#: UsageRecord fields the ledger does not store: ``span_id`` names the attempt's span in the
#: router's trace, which the ledger's own spans link to instead.
NOT_STORED = frozenset({"span_id"})
#: UsageRecord fields stored under another name: durations are stored in milliseconds.
RENAMED = {"duration": "duration_ms", "time_to_first_token": "ttft_ms"}
#: The UsageRecord field each UsageRow field (and so each column) comes from, in UsageRow order:
#: the field of the same name unless :data:`RENAMED`.
SOURCE_FIELDS = tuple(
    {row: source for source, row in RENAMED.items()}.get(field.name, field.name)
    for field in dataclasses.fields(UsageRow)
)
# A record's values in UsageRow order, in one C call; _row converts those at the indexes below
# (time, status, durations, metadata, total_tokens) and passes the others through as they are.
_values = attrgetter(*SOURCE_FIELDS)
_ID, _ATTEMPT, _CLIENT_REQUEST_ID, _TIME, _STATUS, _METADATA = map(
    SOURCE_FIELDS.index, ("id", "attempt", "client_request_id", "time", "status", "metadata")
)
_PROMPT, _COMPLETION, _TOTAL, _COST, _DURATION, _FIRST_TOKEN = map(
    SOURCE_FIELDS.index,
    (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost_usd",
        "duration",
        "time_to_first_token",
    ),
)


# Token counts from 0 to _MOST (llmrouter.field_limits; total_tokens is a sum of two), the
# three details checked by index in _row.
_DETAILS = ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_COUNT_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", *_DETAILS)
_READ, _WRITE, _REASONING = map(SOURCE_FIELDS.index, _DETAILS)
_MOST = {name: MAX_TOKEN_COUNT for name in _COUNT_FIELDS} | {"total_tokens": 2 * MAX_TOKEN_COUNT}


def rows_from_records(records: Sequence[pb.UsageRecord], now: datetime) -> list[UsageRow]:
    """Validate every record and convert them; raises :class:`InvalidRecord` naming them all."""
    rows: list[UsageRow] = []
    for record in records:
        row = _row(record, now)
        if row is None:
            # Rare: only now go over the batch again to name every violation in it.
            raise InvalidRecord(
                [v for index, bad in enumerate(records) for v in _violations(index, bad)]
            )
        rows.append(row)
    return rows


def _violations(index: int, record: pb.UsageRecord) -> list[RecordViolation]:
    found: list[tuple[str, str]] = []
    if not record.id:
        found.append(("id", "must be set"))
    if record.attempt < 0:
        found.append(("attempt", "must be >= 0"))
    if len(record.client_request_id) > REQUEST_ID_MAX_CHARS:
        found.append(("client_request_id", f"must be at most {REQUEST_ID_MAX_CHARS} characters"))
    for name in _COUNT_FIELDS:
        value = getattr(record, name)
        if value < 0 or value > _MOST[name]:
            found.append((name, "must be >= 0" if value < 0 else f"must be at most {_MOST[name]}"))
    if not math.isfinite(record.cost_usd) or record.cost_usd < 0:
        found.append(("cost_usd", "must be a finite number >= 0"))
    for name in ("duration", "time_to_first_token"):
        span: duration_pb2.Duration = getattr(record, name)
        if span.seconds < 0 or span.nanos < 0:
            found.append((name, "must be >= 0"))
    if record.HasField("time") and _to_datetime(record.time) is None:
        found.append(("time", "is out of range"))
    if record.status == pb.USAGE_STATUS_UNSPECIFIED:
        found.append(("status", "must be set"))
    elif record.status not in _STATUSES:
        found.append(("status", f"has unknown value {record.status}"))
    return [RecordViolation(index, record.id, name, text) for name, text in found]


def _row(record: pb.UsageRecord, now: datetime) -> UsageRow | None:
    """``record`` as a row, or None if it breaks any rule of :func:`_violations`.

    The same rules without the detail: every record passes through here, each field read once;
    only a rejected batch goes through :func:`_violations`.
    """
    values = list(_values(record))
    prompt, completion, total = values[_PROMPT], values[_COMPLETION], values[_TOTAL]
    cost = values[_COST]
    duration, first_token = values[_DURATION], values[_FIRST_TOKEN]
    status = _STATUSES.get(values[_STATUS])
    if (
        not values[_ID]
        or values[_ATTEMPT] < 0
        or len(values[_CLIENT_REQUEST_ID]) > REQUEST_ID_MAX_CHARS
        or not 0 <= prompt <= MAX_TOKEN_COUNT
        or not 0 <= completion <= MAX_TOKEN_COUNT
        or not 0 <= total <= 2 * MAX_TOKEN_COUNT
        or not 0 <= values[_READ] <= MAX_TOKEN_COUNT
        or not 0 <= values[_WRITE] <= MAX_TOKEN_COUNT
        or not 0 <= values[_REASONING] <= MAX_TOKEN_COUNT
        or not math.isfinite(cost)
        or cost < 0
        or duration.seconds < 0
        or duration.nanos < 0
        or first_token.seconds < 0
        or first_token.nanos < 0
        or status is None
    ):
        return None
    if record.HasField("time"):
        stamped = _to_datetime(values[_TIME])
        if stamped is None:
            return None
        values[_TIME] = stamped
    else:
        values[_TIME] = now
    values[_STATUS] = status
    values[_TOTAL] = total or prompt + completion
    values[_DURATION] = _ms(duration)
    values[_FIRST_TOKEN] = _ms(first_token) if record.HasField("time_to_first_token") else None
    metadata = values[_METADATA]
    # A comprehension copies a protobuf map in half the time dict() takes.
    values[_METADATA] = {key: metadata[key] for key in metadata}
    return UsageRow(*values)


def record_usage_response(inserted: int, duplicates: int) -> pb.RecordUsageResponse:
    """A ``RecordUsageResponse`` with the counts of a stored batch."""
    return pb.RecordUsageResponse(inserted_count=inserted, duplicate_count=duplicates)


# --- Queries -------------------------------------------------------------------------------


def cost_query(
    request: pb.QueryCostsRequest, reference: ReferencePrice, now: datetime
) -> CostQuery:
    """The question a ``QueryCosts`` request asks, priced against ``reference``."""
    start, end = _window(request, now, InvalidQuery)
    group_by: list[Dimension] = []
    for i, value in enumerate(request.group_by):
        dimension = _DIMENSIONS.get(value)
        if dimension is None:
            raise InvalidQuery(f"group_by[{i}]", f"unknown or unspecified dimension {value}")
        if dimension not in group_by:
            group_by.append(dimension)
    bucket = None
    if request.bucket != pb.TIME_BUCKET_UNSPECIFIED:
        bucket = _BUCKETS.get(request.bucket)
        if bucket is None:
            raise InvalidQuery("bucket", f"unknown time bucket {request.bucket}")
    return CostQuery(
        reference=reference,
        start=start,
        end=end,
        filter=_filter(request.filter),
        group_by=tuple(group_by),
        bucket=bucket,
    )


def fallback_query(request: pb.ListFallbackEventsRequest, now: datetime) -> FallbackQuery:
    """The events a ``ListFallbackEvents`` request asks for."""
    start, end = _window(request, now, InvalidFallbackQuery)
    size = request.page_size
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise InvalidFallbackQuery(
            "page_size",
            f"must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}), got {size}",
        )
    return FallbackQuery(
        start=start, end=end, filter=_filter(request.filter), limit=size or DEFAULT_PAGE_SIZE
    )


def health_query(request: pb.GetProviderHealthRequest, now: datetime) -> HealthQuery:
    """The window a ``GetProviderHealth`` request asks about (default: the last 24 hours) and
    the records that count."""
    start, end = _window(request, now, InvalidHealthQuery)
    return HealthQuery(
        start=start if start is not None else end - DEFAULT_HEALTH_WINDOW,
        end=end,
        filter=_filter(request.filter),
    )


def requests_query(request: pb.ListRequestsRequest) -> RequestQuery:
    """The page a ``ListRequests`` request asks for; no ``end_time`` means no upper bound.

    Raises :class:`InvalidRequestsQuery` naming the field (window, ``page_size`` below 0, an
    unknown status, a page token not issued for this filter and window).
    """
    start, end = _window(request, None, InvalidRequestsQuery)
    size = request.page_size
    if size < 0:
        raise InvalidRequestsQuery("page_size", f"must not be negative, got {size}")
    wanted = request.filter
    statuses: list[UsageStatus] = []
    for i, value in enumerate(wanted.statuses):
        status = _STATUSES.get(value)
        if status is None:
            raise InvalidRequestsQuery(
                f"filter.statuses[{i}]", f"unknown or unspecified status {value}"
            )
        statuses.append(status)
    query = RequestQuery(
        start=start,
        end=end,
        filter=RequestFilter(
            api_key_ids=tuple(wanted.api_key_ids),
            models=tuple(wanted.models),
            statuses=tuple(dict.fromkeys(statuses)),
            categories=tuple(wanted.categories),
        ),
        # AIP-158: a page size above the maximum is taken as the maximum.
        page_size=min(size or request_log.DEFAULT_PAGE_SIZE, request_log.MAX_PAGE_SIZE),
    )
    if request.page_token:
        after = request_log.decode_token(request.page_token, query)
        query = dataclasses.replace(query, after=after)
    return query


@overload
def _window(
    request: _Windowed, now: datetime, error: type[InvalidQuery]
) -> tuple[datetime | None, datetime]: ...
@overload
def _window(
    request: _Windowed, now: None, error: type[InvalidQuery]
) -> tuple[datetime | None, datetime | None]: ...
def _window(
    request: _Windowed, now: datetime | None, error: type[InvalidQuery]
) -> tuple[datetime | None, datetime | None]:
    """``[start_time, end_time)``: no start means unbounded, no end means ``now`` (None:
    unbounded too)."""
    times: dict[str, datetime | None] = {}
    for name in ("start_time", "end_time"):
        value = _to_datetime(getattr(request, name)) if request.HasField(name) else None
        if request.HasField(name) and value is None:
            raise error(name, "is out of range")
        times[name] = value
    start, end = times["start_time"], times["end_time"] or now
    if start is not None and end is not None and end <= start:
        raise error("end_time", "must be after start_time")
    return start, end


def _filter(message: pb.CostFilter) -> CostFilter:
    return CostFilter(
        providers=tuple(message.providers),
        models=tuple(message.models),
        categories=tuple(message.categories),
        sources=tuple(message.sources),
        api_key_ids=tuple(message.api_key_ids),
        team_ids=tuple(message.team_ids),
    )


# --- Answers -------------------------------------------------------------------------------


def report_to_pb(report: CostReport) -> pb.QueryCostsResponse:
    """A ``QueryCostsResponse`` carrying ``report``."""
    return pb.QueryCostsResponse(
        totals=_summary_to_pb(report.totals),
        groups=[_group_to_pb(g.key, g.summary) for g in report.groups],
        reference_model=report.reference_model,
    )


def events_to_pb(events: Sequence[FallbackEvent]) -> pb.ListFallbackEventsResponse:
    """A ``ListFallbackEventsResponse`` carrying ``events`` in their order."""
    return pb.ListFallbackEventsResponse(
        events=[
            pb.FallbackEvent(
                request_id=e.request_id,
                attempt=e.attempt,
                time=_timestamp(e.time),
                model=e.model,
                provider=e.provider,
                fallback_from=e.fallback_from,
                reason=e.reason,
                status=_STATUS_PB[e.status],
                category=e.category,
                source=e.source,
                trace_id=e.trace_id,
            )
            for e in events
        ]
    )


def requests_to_pb(page: RequestPage) -> pb.ListRequestsResponse:
    """A ``ListRequestsResponse`` carrying ``page`` in its order."""
    return pb.ListRequestsResponse(
        requests=[
            pb.RequestLogEntry(
                request_id=e.request_id,
                time=_timestamp(e.time),
                api_key_id=e.api_key_id,
                category=e.category,
                source=e.source,
                models=e.models,
                final_model=e.final_model,
                final_provider=e.final_provider,
                attempts=e.attempts,
                status=_STATUS_PB[e.status],
                error_type=e.error_type,
                prompt_tokens=e.prompt_tokens,
                completion_tokens=e.completion_tokens,
                total_tokens=e.total_tokens,
                cache_read_tokens=e.cache_read_tokens,
                cache_write_tokens=e.cache_write_tokens,
                reasoning_tokens=e.reasoning_tokens,
                cost_usd=e.cost_usd,
                latency=_duration(e.latency_ms),
                trace_id=e.trace_id,
                client_request_id=e.client_request_id,
                streamed=e.streamed,
                usage_estimated=e.usage_estimated,
                deployments=e.deployments,
                final_deployment=e.final_deployment,
            )
            for e in page.entries
        ],
        next_page_token=page.next_page_token,
    )


def health_to_pb(providers: Sequence[ProviderHealth]) -> pb.GetProviderHealthResponse:
    """A ``GetProviderHealthResponse``; times never recorded stay unset."""
    response = pb.GetProviderHealthResponse()
    for h in providers:
        message = response.providers.add(
            provider=h.provider,
            requests=h.requests,
            successes=h.successes,
            failures=h.failures,
            success_rate=h.success_rate,
            average_latency=_duration(h.average_latency_ms),
            last_error_type=h.last_error_type,
        )
        if h.last_success_time is not None:
            message.last_success_time.CopyFrom(_timestamp(h.last_success_time))
        if h.last_failure_time is not None:
            message.last_failure_time.CopyFrom(_timestamp(h.last_failure_time))
    return response


# CostSummary fields copied to the message field of the same name (the latencies are converted).
_SUMMARY_COPIED = tuple(
    f.name
    for f in dataclasses.fields(CostSummary)
    if f.name in pb.CostSummary.DESCRIPTOR.fields_by_name
)


def _summary_to_pb(summary: CostSummary) -> pb.CostSummary:
    return pb.CostSummary(
        average_latency=_duration(summary.average_latency_ms),
        p95_latency=_duration(summary.p95_latency_ms),
        **{name: getattr(summary, name) for name in _SUMMARY_COPIED},
    )


def _group_to_pb(key: GroupKey, summary: CostSummary) -> pb.CostGroup:
    group = pb.CostGroup(summary=_summary_to_pb(summary))
    for name in ("provider", "model", "category", "source", "api_key_id", "team_id", "deployment"):
        value = getattr(key, name)
        if value is not None:
            setattr(group, name, value)
    if key.bucket_start is not None:
        group.bucket_start_time.FromDatetime(key.bucket_start)
    return group


def _to_datetime(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    """``stamp.ToDatetime(tzinfo=UTC)`` (truncated to microseconds), None when out of range.

    Spelled out because every ingested record has a time, and ``ToDatetime`` costs half again
    as much.
    """
    seconds, nanos = stamp.seconds, stamp.nanos
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        return None
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def _timestamp(time: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time)
    return stamp


def _ms(span: duration_pb2.Duration) -> float:
    return span.seconds * 1000.0 + span.nanos / 1e6


def _duration(ms: float) -> duration_pb2.Duration:
    span = duration_pb2.Duration()
    span.FromNanoseconds(round(ms * 1e6))
    return span
