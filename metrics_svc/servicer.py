"""gRPC face of the usage ledger: validates requests, translates pb2 <-> plain values, and
reports failures as ``google.rpc.Status`` with ``ErrorInfo`` (and ``BadRequest``) details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from llmrouter.serving import abort
from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
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
    ERROR_DOMAIN,
    InvalidQuery,
    InvalidRecord,
    MetricsError,
    RecordViolation,
    StorageError,
    UnknownReferenceModel,
)
from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.repository import Repository

__all__ = ["Clock", "MetricsServicer", "rich_status", "utc_now"]

_log = logging.getLogger(__name__)

#: Returns the current time, timezone-aware; injected so tests control "now".
Clock = Callable[[], datetime]

_STATUSES = {
    pb.USAGE_STATUS_SUCCEEDED: UsageStatus.SUCCEEDED,
    pb.USAGE_STATUS_FAILED: UsageStatus.FAILED,
    pb.USAGE_STATUS_CANCELLED: UsageStatus.CANCELLED,
}
_DIMENSIONS = {
    pb.DIMENSION_PROVIDER: Dimension.PROVIDER,
    pb.DIMENSION_MODEL: Dimension.MODEL,
    pb.DIMENSION_CATEGORY: Dimension.CATEGORY,
    pb.DIMENSION_SOURCE: Dimension.SOURCE,
    pb.DIMENSION_API_KEY: Dimension.API_KEY,
}
_BUCKETS = {pb.TIME_BUCKET_HOUR: TimeBucket.HOUR, pb.TIME_BUCKET_DAY: TimeBucket.DAY}

_RecordContext = grpc.aio.ServicerContext[pb.RecordUsageRequest, pb.RecordUsageResponse]
_QueryContext = grpc.aio.ServicerContext[pb.QueryCostsRequest, pb.QueryCostsResponse]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    """Implements ``llmrouter.v1.MetricsService`` over a :class:`Repository`."""

    def __init__(
        self, repository: Repository, reference: ReferencePrice, *, clock: Clock = utc_now
    ) -> None:
        self._repository = repository
        self._reference = reference
        self._clock = clock

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: _RecordContext
    ) -> pb.RecordUsageResponse:
        """Store a batch; one invalid record rejects the whole batch with INVALID_ARGUMENT."""
        try:
            rows = rows_from_records(request.records, self._clock())
            inserted, duplicates = await self._repository.insert_batch(rows)
        except MetricsError as exc:
            await _abort(context, exc)
        return pb.RecordUsageResponse(inserted_count=inserted, duplicate_count=duplicates)

    async def QueryCosts(
        self, request: pb.QueryCostsRequest, context: _QueryContext
    ) -> pb.QueryCostsResponse:
        """Aggregate the ledger over the requested window, filter and groups."""
        try:
            query = self._query_from_request(request)
            report = await self._repository.query_costs(query)
        except MetricsError as exc:
            await _abort(context, exc)
        return _report_to_pb(report)

    def _query_from_request(self, request: pb.QueryCostsRequest) -> CostQuery:
        wanted = request.reference_model
        if wanted and wanted != self._reference.model:
            # Only one reference model is priced until metrics_svc/pricing.py exists.
            raise UnknownReferenceModel(wanted, [self._reference.model])
        start = _query_time(request, "start_time")
        end = _query_time(request, "end_time") or self._clock()
        if start is not None and end <= start:
            raise InvalidQuery("end_time", "must be after start_time")
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
        f = request.filter
        return CostQuery(
            reference=self._reference,
            start=start,
            end=end,
            filter=CostFilter(
                providers=tuple(f.providers),
                models=tuple(f.models),
                categories=tuple(f.categories),
                sources=tuple(f.sources),
                api_key_ids=tuple(f.api_key_ids),
            ),
            group_by=tuple(group_by),
            bucket=bucket,
        )


def rows_from_records(records: Sequence[pb.UsageRecord], now: datetime) -> list[UsageRow]:
    """Validate every record and convert them; raises :class:`InvalidRecord` naming them all."""
    violations: list[RecordViolation] = []
    rows: list[UsageRow] = []
    for index, record in enumerate(records):
        problems = _violations(index, record)
        if problems:
            violations.extend(problems)
        elif not violations:
            rows.append(_row(record, now))
    if violations:
        raise InvalidRecord(violations)
    return rows


def _violations(index: int, record: pb.UsageRecord) -> list[RecordViolation]:
    found: list[tuple[str, str]] = []
    if not record.id:
        found.append(("id", "must be set"))
    if record.attempt < 0:
        found.append(("attempt", "must be >= 0"))
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if getattr(record, name) < 0:
            found.append((name, "must be >= 0"))
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


def _row(record: pb.UsageRecord, now: datetime) -> UsageRow:
    prompt, completion = record.prompt_tokens, record.completion_tokens
    return UsageRow(
        id=record.id,
        request_id=record.request_id,
        attempt=record.attempt,
        time=(_to_datetime(record.time) or now) if record.HasField("time") else now,
        provider=record.provider,
        model=record.model,
        status=_STATUSES[record.status],
        category=record.category,
        task_type=record.task_type,
        source=record.source,
        api_key_id=record.api_key_id,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=record.total_tokens or prompt + completion,
        cost_usd=record.cost_usd,
        duration_ms=_ms(record.duration),
        ttft_ms=_ms(record.time_to_first_token) if record.HasField("time_to_first_token") else None,
        error_type=record.error_type,
        fallback=record.fallback,
        fallback_from=record.fallback_from,
        trace_id=record.trace_id,
        metadata=dict(record.metadata),
        local=record.local,
        streamed=record.streamed,
    )


def _query_time(request: pb.QueryCostsRequest, name: str) -> datetime | None:
    if not request.HasField(name):
        return None
    value = _to_datetime(getattr(request, name))
    if value is None:
        raise InvalidQuery(name, "is out of range")
    return value


def _to_datetime(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _ms(span: duration_pb2.Duration) -> float:
    return span.seconds * 1000.0 + span.nanos / 1e6


def _duration(ms: float) -> duration_pb2.Duration:
    span = duration_pb2.Duration()
    span.FromNanoseconds(round(ms * 1e6))
    return span


def _summary_to_pb(summary: CostSummary) -> pb.CostSummary:
    return pb.CostSummary(
        requests=summary.requests,
        successes=summary.successes,
        failures=summary.failures,
        prompt_tokens=summary.prompt_tokens,
        completion_tokens=summary.completion_tokens,
        total_tokens=summary.total_tokens,
        cost_usd=summary.cost_usd,
        average_latency=_duration(summary.average_latency_ms),
        p95_latency=_duration(summary.p95_latency_ms),
        fallback_count=summary.fallback_count,
        fallback_rate=summary.fallback_rate,
        local_requests=summary.local_requests,
        remote_requests=summary.remote_requests,
        reference_cost_usd=summary.reference_cost_usd,
        savings_usd=summary.savings_usd,
        savings_percent=summary.savings_percent,
    )


def _group_to_pb(key: GroupKey, summary: CostSummary) -> pb.CostGroup:
    group = pb.CostGroup(summary=_summary_to_pb(summary))
    for name in ("provider", "model", "category", "source", "api_key_id"):
        value = getattr(key, name)
        if value is not None:
            setattr(group, name, value)
    if key.bucket_start is not None:
        group.bucket_start_time.FromDatetime(key.bucket_start)
    return group


def _report_to_pb(report: CostReport) -> pb.QueryCostsResponse:
    return pb.QueryCostsResponse(
        totals=_summary_to_pb(report.totals),
        groups=[_group_to_pb(g.key, g.summary) for g in report.groups],
        reference_model=report.reference_model,
    )


def rich_status(exc: MetricsError) -> grpc.Status:
    """``exc`` as a gRPC status carrying ``ErrorInfo`` and, for bad fields, ``BadRequest``."""
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=exc.reason, domain=ERROR_DOMAIN, metadata=exc.metadata
            )
        )
    ]
    if exc.field_violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in exc.field_violations
            ]
        )
        details.append(_pack(bad_request))
    code: int = exc.grpc_code.value[0]
    return rpc_status.to_status(status_pb2.Status(code=code, message=exc.message, details=details))


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: MetricsError) -> NoReturn:
    if isinstance(exc, StorageError):
        _log.warning("metrics storage failure: %s", exc, exc_info=exc.__cause__)
    await abort(context, rich_status(exc))
