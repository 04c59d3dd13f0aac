"""The request log: a LogQuery as a ListRequests request, and its entries as JSON and CSV rows.

JSON conventions as the cost reports: durations in milliseconds (``*_ms``), times ISO 8601
UTC, money as float USD (``*_usd``).
"""

from __future__ import annotations

from typing import Any, Final

from gateway.config import trace_url
from gateway.request_log_query import LogQuery
from gateway.translate._values import ms, number, time_of
from llmrouter.v1 import metrics_service_pb2

__all__ = [
    "CSV_COLUMNS",
    "csv_row",
    "list_requests_request",
    "request_entries",
]

_m = metrics_service_pb2
_PREFIX: Final = "USAGE_STATUS_"

#: The CSV export's columns, in order: the JSON entry's fields, the chain joined with " > ".
CSV_COLUMNS: Final = (
    "time",
    "request_id",
    "api_key_id",
    "category",
    "source",
    "models",
    "model",
    "provider",
    "attempts",
    "status",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_ms",
    "trace_id",
    "client_request_id",
    "deployment",
)
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV Injection");
# source and client_request_id are the client's own text.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def list_requests_request(
    query: LogQuery, page_size: int, page_token: str
) -> metrics_service_pb2.ListRequestsRequest:
    """The ListRequests request for one page of ``query``."""
    request = _m.ListRequestsRequest(
        page_size=page_size,
        page_token=page_token,
        filter=_m.RequestFilter(
            api_key_ids=query.api_key_ids,
            models=query.models,
            statuses=[_m.UsageStatus.Value(_PREFIX + s.upper()) for s in query.statuses],  # type: ignore[misc]
            categories=query.categories,
        ),
    )
    if query.start is not None:
        request.start_time.FromDatetime(query.start)
    if query.end is not None:
        request.end_time.FromDatetime(query.end)
    return request


def request_entries(
    response: metrics_service_pb2.ListRequestsResponse, trace_link: str
) -> list[dict[str, Any]]:
    """The entries of a page as JSON objects; ``trace_url`` from ``trace_link``
    (:meth:`gateway.config.GatewayConfig.trace_link`), null without one or without a trace."""
    return [
        {
            "object": "llmrouter.request",
            "request_id": e.request_id,
            "time": time_of(e, "time"),
            "api_key_id": e.api_key_id,
            "category": e.category,
            "source": e.source,
            "models": list(e.models),
            "model": e.final_model,
            "provider": e.final_provider,
            "attempts": e.attempts,
            "status": _m.UsageStatus.Name(e.status).removeprefix(_PREFIX).lower(),
            "error_type": e.error_type,
            "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens,
            "total_tokens": e.total_tokens,
            "cache_read_tokens": e.cache_read_tokens,
            "cache_write_tokens": e.cache_write_tokens,
            "reasoning_tokens": e.reasoning_tokens,
            "cost_usd": number(e.cost_usd),
            "latency_ms": ms(e.latency),
            "trace_id": e.trace_id,
            "trace_url": trace_url(trace_link, e.trace_id),
            "client_request_id": e.client_request_id,
            "streamed": e.streamed,
            "usage_estimated": e.usage_estimated,
            # README, "Deployments": each attempt's deployment, and the final one's.
            "deployments": list(e.deployments),
            "deployment": e.final_deployment,
        }
        for e in response.requests
    ]


def csv_row(entry: dict[str, Any]) -> list[Any]:
    """A JSON entry as a CSV row of :data:`CSV_COLUMNS`; text that a spreadsheet would take
    for a formula is prefixed with ``'``."""
    row: list[Any] = []
    for column in CSV_COLUMNS:
        value = entry[column]
        if column == "models":
            value = " > ".join(value)
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            value = "'" + value
        row.append("" if value is None else value)
    return row
