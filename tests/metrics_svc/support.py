"""Helpers for metrics service tests: a client wrapper, record builder and rich-error reader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from llmrouter.v1 import metrics_service_pb2 as pb
from metrics_svc.config import MetricsConfig
from metrics_svc.server import RunningMetrics

#: Reference prices the test server is configured with (not the defaults, to prove they apply).
REFERENCE_MODEL = "reference-model"
REFERENCE_INPUT_PER_MILLION = 3.0
REFERENCE_OUTPUT_PER_MILLION = 15.0

#: "Now" on the test server's clock: the time of records sent without one, and the query end.
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


@dataclass
class Metrics:
    """A running metrics service and a client stub connected to it."""

    stub: Any  # MetricsServiceStub; the generated code is untyped
    running: RunningMetrics
    config: MetricsConfig

    async def record(self, *records: pb.UsageRecord) -> pb.RecordUsageResponse:
        """Send one RecordUsage batch."""
        response: pb.RecordUsageResponse = await self.stub.RecordUsage(
            pb.RecordUsageRequest(records=records)
        )
        return response

    async def query(self, **fields: Any) -> pb.QueryCostsResponse:
        """Send one QueryCosts request made of ``fields``."""
        response: pb.QueryCostsResponse = await self.stub.QueryCosts(pb.QueryCostsRequest(**fields))
        return response


def usage_record(
    record_id: str,
    *,
    time: datetime | None = NOW - timedelta(minutes=5),
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    cost_usd: float = 0.001,
    duration_ms: int = 500,
    status: pb.UsageStatus = pb.USAGE_STATUS_SUCCEEDED,
    **fields: Any,
) -> pb.UsageRecord:
    """A valid usage record with id ``"<request>:<attempt>"``; ``fields`` sets any other field."""
    request_id, _, attempt = record_id.partition(":")
    record = pb.UsageRecord(
        id=record_id,
        request_id=request_id,
        attempt=int(attempt or 1),
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        duration=timedelta(milliseconds=duration_ms),
        status=status,
        **fields,
    )
    if time is not None:
        record.time.FromDatetime(time)
    return record


def rich_error(
    error: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest | None]:
    """The ``ErrorInfo`` and (if sent) ``BadRequest`` details of a failed call."""
    encoded = [
        value
        for key, value in error.trailing_metadata() or ()
        if key == "grpc-status-details-bin" and isinstance(value, bytes)
    ]
    assert encoded, "the error carries no google.rpc.Status details"
    rich = status_pb2.Status.FromString(encoded[0])
    assert rich.code == error.code().value[0]
    assert rich.message == error.details()
    info: error_details_pb2.ErrorInfo | None = None
    bad_request: error_details_pb2.BadRequest | None = None
    for detail in rich.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    assert info is not None, "the error carries no ErrorInfo"
    return info, bad_request
