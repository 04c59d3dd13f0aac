"""Helpers for metrics service tests: a client wrapper, record builder and rich-error reader."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from llmrouter.v1 import metrics_service_pb2 as pb
from metrics_svc.config import MetricsConfig
from metrics_svc.server import RunningMetrics

#: Reference prices the test server is configured with (not the defaults, to prove they apply).
REFERENCE_MODEL = "reference-model"
REFERENCE_INPUT_PER_MILLION = 3.0
REFERENCE_OUTPUT_PER_MILLION = 15.0
REFERENCE_CACHE_READ_PER_MILLION = 0.3
REFERENCE_CACHE_WRITE_PER_MILLION = 3.75

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

    async def fallbacks(self, **fields: Any) -> list[pb.FallbackEvent]:
        """Send one ListFallbackEvents request made of ``fields``; the events."""
        response: pb.ListFallbackEventsResponse = await self.stub.ListFallbackEvents(
            pb.ListFallbackEventsRequest(**fields)
        )
        return list(response.events)

    async def health(self, **fields: Any) -> dict[str, pb.ProviderHealth]:
        """Send one GetProviderHealth request made of ``fields``; the answer by provider."""
        response: pb.GetProviderHealthResponse = await self.stub.GetProviderHealth(
            pb.GetProviderHealthRequest(**fields)
        )
        names = [h.provider for h in response.providers]
        assert names == sorted(names), "providers are listed by name"
        return {h.provider: h for h in response.providers}


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


@dataclass(frozen=True)
class Sent:
    """What the test sent for one record, to compute expectations from."""

    id: str
    time: datetime
    provider: str
    model: str
    category: str
    source: str
    api_key_id: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_ms: int
    status: pb.UsageStatus
    fallback: bool
    local: bool
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_estimated: bool = False
    team_id: str = ""
    deployment: str = ""

    def to_pb(self) -> pb.UsageRecord:
        return usage_record(
            self.id,
            time=self.time,
            provider=self.provider,
            model=self.model,
            category=self.category,
            source=self.source,
            api_key_id=self.api_key_id,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=self.cost_usd,
            duration_ms=self.duration_ms,
            status=self.status,
            fallback=self.fallback,
            # A fallback comes from another model than its own.
            fallback_from=(
                ("gpt-4o" if self.model != "gpt-4o" else "gpt-4o-mini") if self.fallback else ""
            ),
            local=self.local,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            usage_estimated=self.usage_estimated,
            team_id=self.team_id,
            deployment=self.deployment,
        )


def assert_summary(
    summary: pb.CostSummary,
    sent: Sequence[Sent],
    prices: tuple[float, ...] = (
        REFERENCE_INPUT_PER_MILLION,
        REFERENCE_OUTPUT_PER_MILLION,
        REFERENCE_CACHE_READ_PER_MILLION,
        REFERENCE_CACHE_WRITE_PER_MILLION,
    ),
) -> None:
    """``summary`` holds exactly the figures of ``sent``, savings against ``prices`` (USD per
    million prompt, completion, cache-read and cache-write tokens; the cache rates default to
    the prompt rate) over the priced records only."""
    n = len(sent)
    durations = sorted(s.duration_ms for s in sent)
    prompt = sum(s.prompt_tokens for s in sent)
    completion = sum(s.completion_tokens for s in sent)
    cost = sum(s.cost_usd for s in sent)
    fallbacks = sum(1 for s in sent if s.fallback)
    read_rate, write_rate = (*prices[2:], prices[0], prices[0])[:2]
    # Unpriced records (remote, tokens, no cost) have no known cost: no savings from them.
    priced = [s for s in sent if s.local or not s.prompt_tokens + s.completion_tokens or s.cost_usd]
    reference = (
        sum(
            (s.prompt_tokens - s.cache_read_tokens - s.cache_write_tokens) * prices[0]
            + s.cache_read_tokens * read_rate
            + s.cache_write_tokens * write_rate
            + s.completion_tokens * prices[1]
            for s in priced
        )
        / 1e6
    )
    assert summary.requests == n
    assert summary.successes == sum(1 for s in sent if s.status == pb.USAGE_STATUS_SUCCEEDED)
    assert summary.failures == sum(1 for s in sent if s.status == pb.USAGE_STATUS_FAILED)
    assert summary.cancellations == sum(1 for s in sent if s.status == pb.USAGE_STATUS_CANCELLED)
    # Rows add up: every attempt is a success, a failure or a cancellation.
    assert summary.requests == summary.successes + summary.failures + summary.cancellations
    assert summary.unpriced_requests == sum(
        1 for s in sent if not s.local and s.prompt_tokens + s.completion_tokens and not s.cost_usd
    )
    assert summary.estimated_requests == sum(1 for s in sent if s.usage_estimated)
    assert summary.prompt_tokens == prompt
    assert summary.completion_tokens == completion
    assert summary.total_tokens == prompt + completion
    for name in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        assert getattr(summary, name) == sum(getattr(s, name) for s in sent), name
    assert summary.cost_usd == pytest.approx(cost)
    assert ms(summary.average_latency) == pytest.approx(sum(durations) / n if n else 0.0)
    # Nearest rank: the smallest value with at least 95% of the values at or below it.
    p95 = durations[math.ceil(0.95 * n) - 1] if n else 0
    assert ms(summary.p95_latency) == pytest.approx(p95)
    assert summary.fallback_count == fallbacks
    assert summary.fallback_rate == pytest.approx(fallbacks / n if n else 0.0)
    assert summary.local_requests == sum(1 for s in sent if s.local)
    assert summary.remote_requests == sum(1 for s in sent if not s.local)
    assert summary.reference_cost_usd == pytest.approx(reference)
    assert summary.savings_usd == pytest.approx(reference - cost)
    expected_percent = (reference - cost) / reference * 100 if reference else 0.0
    assert summary.savings_percent == pytest.approx(expected_percent)


def ms(span: duration_pb2.Duration) -> float:
    """``span`` in milliseconds."""
    return span.ToNanoseconds() / 1e6
