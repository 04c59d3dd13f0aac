"""A fake MetricsService for gateway tests: canned reports, recorded requests.

Served by a real in-process ``grpc.aio`` server (see conftest.py), like FakeRouter, while the
real metrics service's query RPCs are written elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from llmrouter.serving import GrpcServer
from llmrouter.v1 import metrics_service_pb2 as m
from llmrouter.v1 import metrics_service_pb2_grpc

from .support import Failure, rich_status

Context = grpc.aio.ServicerContext[Any, Any]

# 2026-11-01T00:00:00Z
NOV_1 = 1_793_491_200


def ms(value: float) -> duration_pb2.Duration:
    """A Duration of ``value`` milliseconds."""
    seconds, rest = divmod(value, 1000)
    return duration_pb2.Duration(seconds=int(seconds), nanos=round(rest * 1e6))


def at(seconds: int) -> timestamp_pb2.Timestamp:
    """A Timestamp ``seconds`` after the epoch."""
    return timestamp_pb2.Timestamp(seconds=seconds)


def summary(requests: int = 4, cost: float = 0.25) -> m.CostSummary:
    """Aggregates with every field set."""
    return m.CostSummary(
        requests=requests,
        successes=requests - 2,
        failures=1,
        cancellations=1,
        prompt_tokens=1000,
        completion_tokens=500,
        total_tokens=1500,
        cache_read_tokens=600,
        cache_write_tokens=100,
        reasoning_tokens=200,
        cost_usd=cost,
        average_latency=ms(250.5),
        p95_latency=ms(1200),
        fallback_count=1,
        fallback_rate=0.25,
        local_requests=1,
        remote_requests=requests - 1,
        reference_cost_usd=1.0,
        savings_usd=1.0 - cost,
        savings_percent=75.0,
        unpriced_requests=1,
        estimated_requests=1,
    )


def costs_response() -> m.QueryCostsResponse:
    """Totals and two groups by provider and day."""
    return m.QueryCostsResponse(
        totals=summary(8, 0.5),
        groups=[
            m.CostGroup(provider="openai", bucket_start_time=at(NOV_1), summary=summary()),
            m.CostGroup(provider="simulated", bucket_start_time=at(NOV_1), summary=summary()),
        ],
        reference_model="gpt-4o",
    )


def fallback_events() -> list[m.FallbackEvent]:
    """One fallback from sim-small to sim-large after a rate limit."""
    return [
        m.FallbackEvent(
            request_id="req-9",
            attempt=2,
            time=at(NOV_1 + 90),
            model="sim-large",
            provider="simulated",
            fallback_from="sim-small",
            reason="RATE_LIMITED",
            status=m.USAGE_STATUS_SUCCEEDED,
            category="code",
            source="wt-7",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        )
    ]


def provider_health() -> list[m.ProviderHealth]:
    """One provider that has succeeded and never failed."""
    return [
        m.ProviderHealth(
            provider="simulated",
            requests=10,
            successes=10,
            success_rate=1.0,
            average_latency=ms(12.5),
            last_success_time=at(NOV_1 + 60),
        )
    ]


def logged_request(i: int) -> m.RequestLogEntry:
    """Entry ``i`` of the fake request log, newest first: every third one failed over."""
    failover = i % 3 == 0
    return m.RequestLogEntry(
        request_id=f"req-{i:05d}",
        time=at(NOV_1 - i),
        api_key_id="k",
        category="code",
        source="=HYPERLINK(evil)" if i == 1 else "sdk",
        models=["gpt-4o", "backup"] if failover else ["gpt-4o"],
        final_model="backup" if failover else "gpt-4o",
        final_provider="fake",
        attempts=2 if failover else 1,
        status=m.USAGE_STATUS_SUCCEEDED,
        prompt_tokens=10,
        completion_tokens=5,
        total_tokens=15,
        cost_usd=0.001,
        latency=ms(250),
        trace_id=f"{i:032x}",
    )


class FakeMetrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    """Canned MetricsService query RPCs. Set the attributes to shape the next calls."""

    def __init__(self) -> None:
        self.port = 0
        self.server: GrpcServer | None = None
        self.costs = costs_response()
        # When set, QueryCosts answers each request with this instead of ``costs``.
        self.answer_costs: Callable[[m.QueryCostsRequest], m.QueryCostsResponse] | None = None
        self.events = fallback_events()
        self.providers = provider_health()
        # ListRequests: this many requests in the log, served page by page (the token is the
        # offset); calls after the first ``requests_fail_after`` fail with UNAVAILABLE.
        self.logged = 3
        self.requests_fail_after: int | None = None
        # Fail every call with this (None: answer).
        self.failure: Failure | None = None
        # What the gateway sent, by RPC name, and the deadline left when each call arrived.
        self.requests: dict[str, list[Any]] = {}
        self.time_remaining: list[float | None] = []

    async def QueryCosts(
        self, request: m.QueryCostsRequest, context: Context
    ) -> m.QueryCostsResponse:
        await self._enter("QueryCosts", request, context)
        if self.answer_costs is not None:
            return self.answer_costs(request)
        return self.costs

    async def ListFallbackEvents(
        self, request: m.ListFallbackEventsRequest, context: Context
    ) -> m.ListFallbackEventsResponse:
        await self._enter("ListFallbackEvents", request, context)
        return m.ListFallbackEventsResponse(events=self.events)

    async def GetProviderHealth(
        self, request: m.GetProviderHealthRequest, context: Context
    ) -> m.GetProviderHealthResponse:
        await self._enter("GetProviderHealth", request, context)
        return m.GetProviderHealthResponse(providers=self.providers)

    async def ListRequests(
        self, request: m.ListRequestsRequest, context: Context
    ) -> m.ListRequestsResponse:
        await self._enter("ListRequests", request, context)
        calls = len(self.requests["ListRequests"])
        if self.requests_fail_after is not None and calls > self.requests_fail_after:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ledger gone")
        if not request.page_token.isdigit() and request.page_token:
            # As the real service answers a token it did not issue.
            bad = Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                "page_token: is not a page token of this list",
                reason="INVALID_REQUESTS_QUERY",
                field="page_token",
            )
            status = rich_status(bad)
            await context.abort(status.code, status.details, status.trailing_metadata)
        offset = int(request.page_token or 0)
        end = min(offset + (request.page_size or 50), self.logged)
        entries = [logged_request(i) for i in range(offset, end)]
        return m.ListRequestsResponse(
            requests=entries, next_page_token=str(end) if end < self.logged else ""
        )

    async def RecordFeedback(
        self, request: m.RecordFeedbackRequest, context: Context
    ) -> m.RecordFeedbackResponse:
        """Echoes the score as stored against a canned model (the real service's rules are
        tested in tests/metrics_svc/test_feedback.py)."""
        await self._enter("RecordFeedback", request, context)
        stored = m.Feedback()
        stored.CopyFrom(request.feedback)
        stored.model, stored.category, stored.sequence = "gpt-4o-mini", "general", 1
        return m.RecordFeedbackResponse(feedback=stored)

    async def _enter(self, name: str, request: Any, context: Context) -> None:
        self.requests.setdefault(name, []).append(request)
        self.time_remaining.append(context.time_remaining())
        if self.failure is not None:
            status = rich_status(self.failure)
            await context.abort(status.code, status.details, status.trailing_metadata)
