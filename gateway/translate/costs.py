"""CostQuery to MetricsService requests, and their answers as JSON.

JSON conventions: durations in milliseconds (``*_ms``), times as ISO 8601 UTC strings (null when
unset), money as float USD (``*_usd``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.translate._values import iso as _iso
from gateway.translate._values import ms as _ms
from gateway.translate._values import number as _number
from gateway.translate._values import time_of as _time
from gateway.usage_query import CostQuery
from llmrouter.v1 import metrics_service_pb2

__all__ = [
    "costs_json",
    "fallback_events_json",
    "fallback_events_request",
    "provider_health_json",
    "provider_health_request",
    "query_costs_request",
]

_m = metrics_service_pb2
_DIMENSIONS: Final[Mapping[str, int]] = {
    "provider": _m.DIMENSION_PROVIDER,
    "model": _m.DIMENSION_MODEL,
    "category": _m.DIMENSION_CATEGORY,
    "source": _m.DIMENSION_SOURCE,
    "api_key": _m.DIMENSION_API_KEY,
    "team": _m.DIMENSION_TEAM,
    "deployment": _m.DIMENSION_DEPLOYMENT,
}
# The CostGroup field each dimension fills.
_GROUP_FIELDS: Final[Mapping[str, str]] = {
    "provider": "provider",
    "model": "model",
    "category": "category",
    "source": "source",
    "api_key": "api_key_id",
    "team": "team_id",
    "deployment": "deployment",
}
_BUCKETS: Final[Mapping[str, int]] = {"hour": _m.TIME_BUCKET_HOUR, "day": _m.TIME_BUCKET_DAY}
_STATUSES: Final[Mapping[int, str]] = {
    _m.USAGE_STATUS_SUCCEEDED: "succeeded",
    _m.USAGE_STATUS_FAILED: "failed",
    _m.USAGE_STATUS_CANCELLED: "cancelled",
}


# --- requests ----------------------------------------------------------------------------------


def query_costs_request(query: CostQuery) -> metrics_service_pb2.QueryCostsRequest:
    """The QueryCosts request for ``query``."""
    request = _m.QueryCostsRequest(
        filter=_filter(query),
        group_by=[_DIMENSIONS[d] for d in query.group_by],  # type: ignore[misc]
        reference_model=query.reference_model,
    )
    if query.bucket is not None:
        request.bucket = _BUCKETS[query.bucket]  # type: ignore[assignment]
    _set_window(request, query)
    return request


def fallback_events_request(query: CostQuery) -> metrics_service_pb2.ListFallbackEventsRequest:
    """The ListFallbackEvents request for ``query`` (window, filters, ``limit``)."""
    request = _m.ListFallbackEventsRequest(filter=_filter(query), page_size=query.limit)
    _set_window(request, query)
    return request


def provider_health_request(query: CostQuery) -> metrics_service_pb2.GetProviderHealthRequest:
    """The GetProviderHealth request for the window and filters of ``query`` (its
    ``api_key_ids`` keep a non-admin caller to its own traffic)."""
    request = _m.GetProviderHealthRequest(filter=_filter(query))
    _set_window(request, query)
    return request


def _filter(query: CostQuery) -> metrics_service_pb2.CostFilter:
    return _m.CostFilter(
        providers=query.providers,
        models=query.models,
        categories=query.categories,
        sources=query.sources,
        api_key_ids=query.api_key_ids,
        team_ids=query.team_ids,
    )


def _set_window(request: Any, query: CostQuery) -> None:
    if query.start is not None:
        request.start_time.FromDatetime(query.start)
    if query.end is not None:
        request.end_time.FromDatetime(query.end)


# --- responses ---------------------------------------------------------------------------------


def costs_json(
    response: metrics_service_pb2.QueryCostsResponse, query: CostQuery
) -> dict[str, Any]:
    """The report: the window asked for, the totals, and one row per group."""
    fields = [_GROUP_FIELDS[d] for d in query.group_by]
    groups = []
    for group in response.groups:
        row: dict[str, Any] = {name: getattr(group, name) for name in fields}
        if query.bucket is not None:
            row["bucket_start"] = _time(group, "bucket_start_time")
        row.update(_summary(group.summary))
        groups.append(row)
    return {
        "start": _iso(query.start),
        "end": _iso(query.end),
        "group_by": list(query.group_by),
        "bucket": query.bucket,
        "reference_model": response.reference_model,
        "totals": _summary(response.totals),
        "groups": groups,
    }


def fallback_events_json(
    response: metrics_service_pb2.ListFallbackEventsResponse,
) -> list[dict[str, Any]]:
    """Fallback events, newest first, as the metrics service lists them."""
    return [
        {
            "request_id": e.request_id,
            "attempt": e.attempt,
            "time": _time(e, "time"),
            "model": e.model,
            "provider": e.provider,
            "fallback_from": e.fallback_from,
            "reason": e.reason,
            "status": _STATUSES.get(e.status, "unspecified"),
            "category": e.category,
            "source": e.source,
            "trace_id": e.trace_id,
        }
        for e in response.events
    ]


def provider_health_json(
    response: metrics_service_pb2.GetProviderHealthResponse,
) -> list[dict[str, Any]]:
    """Per-provider health over the window."""
    return [
        {
            "provider": p.provider,
            "requests": p.requests,
            "successes": p.successes,
            "failures": p.failures,
            "success_rate": _number(p.success_rate),
            "average_latency_ms": _ms(p.average_latency),
            "last_success_time": _time(p, "last_success_time"),
            "last_failure_time": _time(p, "last_failure_time"),
            "last_error_type": p.last_error_type,
        }
        for p in response.providers
    ]


def _summary(summary: metrics_service_pb2.CostSummary) -> dict[str, Any]:
    return {
        "requests": summary.requests,
        "successes": summary.successes,
        "failures": summary.failures,
        "cancellations": summary.cancellations,
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
        "total_tokens": summary.total_tokens,
        # Parts of prompt_tokens read from / written to the prompt cache, and the part of
        # completion_tokens spent reasoning.
        "cache_read_tokens": summary.cache_read_tokens,
        "cache_write_tokens": summary.cache_write_tokens,
        "reasoning_tokens": summary.reasoning_tokens,
        "cost_usd": _number(summary.cost_usd),
        "average_latency_ms": _ms(summary.average_latency),
        "p95_latency_ms": _ms(summary.p95_latency),
        "fallback_count": summary.fallback_count,
        "fallback_rate": _number(summary.fallback_rate),
        "local_requests": summary.local_requests,
        "remote_requests": summary.remote_requests,
        "reference_cost_usd": _number(summary.reference_cost_usd),
        "savings_usd": _number(summary.savings_usd),
        "savings_percent": _number(summary.savings_percent),
        # Attempts whose model has no known price, billed $0: their cost is missing.
        "unpriced_requests": summary.unpriced_requests,
        "priced": summary.unpriced_requests == 0,
        # Attempts whose token counts (and cost) are partly the router's estimate.
        "estimated_requests": summary.estimated_requests,
        # Requests answered from the response cache ($0) and what they would have cost.
        "cache_hits": summary.cache_hits,
        "cache_saved_usd": _number(summary.cache_saved_usd),
    }
