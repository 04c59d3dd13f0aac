"""gRPC face of the usage ledger: each RPC translates its request (:mod:`metrics_svc.translate`),
asks the :class:`Repository`, and reports failures as ``google.rpc.Status`` with ``ErrorInfo``
(and ``BadRequest``) details.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc

from llmrouter import status
from llmrouter.serving import abort
from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.costs import ReferencePrice
from metrics_svc.errors import MetricsError, StorageError
from metrics_svc.pricing import reference_price
from metrics_svc.repository import Repository
from metrics_svc.telemetry import LedgerMetrics, record_spans
from metrics_svc.translate import (
    cost_query,
    events_to_pb,
    fallback_query,
    health_query,
    health_to_pb,
    record_usage_response,
    report_to_pb,
    requests_query,
    requests_to_pb,
    rows_from_records,
)
from metrics_svc.translate_feedback import (
    feedback_input,
    feedback_to_pb,
    list_feedback_query,
    list_feedback_response,
    quality_response,
    quality_start,
)

__all__ = ["Clock", "MetricsServicer", "rich_status", "utc_now"]

_log = logging.getLogger(__name__)

#: Returns the current time, timezone-aware; injected so tests control "now".
Clock = Callable[[], datetime]

_Context = grpc.aio.ServicerContext[Any, Any]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    """Implements ``llmrouter.v1.MetricsService`` over a :class:`Repository`."""

    def __init__(
        self,
        repository: Repository,
        reference: ReferencePrice,
        *,
        clock: Clock = utc_now,
        metrics: LedgerMetrics | None = None,
    ) -> None:
        self._repository = repository
        self._reference = reference
        self._clock = clock
        self.metrics = metrics

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: _Context
    ) -> pb.RecordUsageResponse:
        """Store a batch; one invalid record rejects the whole batch with INVALID_ARGUMENT."""
        try:
            rows = rows_from_records(request.records, self._clock())
            inserted, duplicates = await self._repository.insert_batch(rows)
        except MetricsError as exc:
            if self.metrics is not None:
                self.metrics.records.labels("rejected").inc(len(request.records))
            await _abort(context, exc)
        if self.metrics is not None:
            self.metrics.records.labels("inserted").inc(inserted)
            self.metrics.records.labels("duplicate").inc(duplicates)
        record_spans(request.records, inserted > 0)
        return record_usage_response(inserted, duplicates)

    async def QueryCosts(
        self, request: pb.QueryCostsRequest, context: _Context
    ) -> pb.QueryCostsResponse:
        """Aggregate the ledger over the requested window, filter and groups."""
        try:
            reference = reference_price(request.reference_model, self._reference)
            query = cost_query(request, reference, self._clock())
            report = await self._repository.query_costs(query)
        except MetricsError as exc:
            await _abort(context, exc)
        return report_to_pb(report)

    async def ListFallbackEvents(
        self, request: pb.ListFallbackEventsRequest, context: _Context
    ) -> pb.ListFallbackEventsResponse:
        """Fallback attempts in the window, newest first, each with the error that caused it."""
        try:
            query = fallback_query(request, self._clock())
            events = await self._repository.list_fallback_events(query)
        except MetricsError as exc:
            await _abort(context, exc)
        return events_to_pb(events)

    async def GetProviderHealth(
        self, request: pb.GetProviderHealthRequest, context: _Context
    ) -> pb.GetProviderHealthResponse:
        """Per-provider success rate and latency in the window, last outcomes of all time."""
        try:
            query = health_query(request, self._clock())
            health = await self._repository.provider_health(query)
        except MetricsError as exc:
            await _abort(context, exc)
        return health_to_pb(health)

    async def ListRequests(
        self, request: pb.ListRequestsRequest, context: _Context
    ) -> pb.ListRequestsResponse:
        """One page of the request log: client requests, their attempts grouped, newest first."""
        try:
            page = await self._repository.list_requests(requests_query(request))
        except MetricsError as exc:
            await _abort(context, exc)
        return requests_to_pb(page)

    async def RecordFeedback(
        self, request: pb.RecordFeedbackRequest, context: _Context
    ) -> pb.RecordFeedbackResponse:
        """Store one score by request id; a repeat of (request_id, source) replaces it."""
        try:
            given, caller = feedback_input(request)
            stored, replaced = await self._repository.record_feedback(given, caller, self._clock())
        except MetricsError as exc:
            await _abort(context, exc)
        return pb.RecordFeedbackResponse(feedback=feedback_to_pb(stored), replaced=replaced)

    async def ListFeedback(
        self, request: pb.ListFeedbackRequest, context: _Context
    ) -> pb.ListFeedbackResponse:
        """Scores stored or replaced after a sequence, in sequence order."""
        try:
            after, size = list_feedback_query(request)
            stored = await self._repository.list_feedback(after, size)
        except MetricsError as exc:
            await _abort(context, exc)
        return list_feedback_response(after, stored)

    async def QueryQuality(
        self, request: pb.QueryQualityRequest, context: _Context
    ) -> pb.QueryQualityResponse:
        """Score counts and sums per model x category x source kind."""
        try:
            stats = await self._repository.quality_stats(quality_start(request))
        except MetricsError as exc:
            await _abort(context, exc)
        return quality_response(stats)


def rich_status(exc: MetricsError) -> grpc.Status:
    """``exc`` as a gRPC status carrying ``ErrorInfo`` and, for bad fields, ``BadRequest``."""
    return status.rich_status(
        exc.grpc_code,
        exc.message,
        exc.reason,
        metadata=exc.metadata,
        violations=[(v.field, v.description) for v in exc.field_violations],
    )


async def _abort(context: _Context, exc: MetricsError) -> NoReturn:
    if isinstance(exc, StorageError):
        _log.warning("metrics storage failure: %s", exc, exc_info=exc.__cause__)
    await abort(context, rich_status(exc))
