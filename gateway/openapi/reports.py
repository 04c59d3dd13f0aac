"""JSON Schemas of the reports: costs, usage (fallback events, provider health), the request
log and health.

Money is float USD (``*_usd``), durations are milliseconds (``*_ms``), times ISO 8601 UTC.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.dashboard.figures import ADDITIVE
from gateway.openapi.parts import INTEGER, NUMBER, STRING, TIME, obj, ref
from gateway.request_log_query import STATUSES
from gateway.usage_query import BUCKETS, DIMENSIONS

__all__ = ["REPORT_SCHEMAS"]

# The counts of a cost summary: its additive figures but money.
_SUMMARY_INTS = tuple(name for name in ADDITIVE if not name.endswith("_usd"))
_SUMMARY_NUMBERS = (
    "cost_usd",
    "average_latency_ms",
    "p95_latency_ms",
    "fallback_rate",
    "reference_cost_usd",
    "savings_usd",
    "savings_percent",
)
_SUMMARY_PROPS = {
    **{name: INTEGER for name in _SUMMARY_INTS},
    **{name: NUMBER for name in _SUMMARY_NUMBERS},
    # False when some of the requests' models have no known price (unpriced_requests).
    "priced": {"type": "boolean"},
}
_SUMMARY = obj(list(_SUMMARY_PROPS), _SUMMARY_PROPS)
# A budget rule as /v1/admin/budgets lists it.
_BUDGETS = {
    "type": "array",
    "items": {"$ref": "#/components/schemas/BudgetList/properties/budgets/items"},
}
_GROUP = obj(
    list(_SUMMARY_PROPS),
    {
        **_SUMMARY_PROPS,
        **{
            name: STRING
            for name in (
                "provider",
                "model",
                "category",
                "source",
                "api_key_id",
                "team_id",
                "deployment",
            )
        },
        "bucket_start": TIME,
        "budgets": {
            **_BUDGETS,
            "description": "Grouped by api_key or team: the budget rules of the row's key and "
            "team that the caller may see, each over its own period.",
        },
    },
    description="Only the grouped-by fields (and bucket_start with a bucket) are present.",
)
_COSTS_PROPS = {
    "start": TIME,
    "end": TIME,
    "group_by": {"type": "array", "items": {"enum": list(DIMENSIONS)}},
    "bucket": {"enum": [*BUCKETS, None]},
    "reference_model": STRING,
    "totals": ref("CostSummary"),
    "groups": {"type": "array", "items": ref("CostGroup")},
}
_COSTS = obj(
    list(_COSTS_PROPS),
    {
        **_COSTS_PROPS,
        "budgets": {
            **_BUDGETS,
            "description": "Grouped by api_key or team: every budget rule the report shows (an "
            "admin's: all, or those of the api_key_id and team_id asked for; another key's: "
            "its own and its team's).",
        },
    },
)
_FALLBACK_EVENT = obj(
    [
        "request_id", "attempt", "time", "model", "provider", "fallback_from", "reason",
        "status", "category", "source", "trace_id",
    ],
    {
        **{
            name: STRING
            for name in (
                "request_id", "model", "provider", "fallback_from", "reason", "category",
                "source", "trace_id",
            )
        },
        "attempt": INTEGER,
        "time": TIME,
        "status": {"enum": ["succeeded", "failed", "cancelled", "unspecified"]},
    },
)  # fmt: skip
_PROVIDER_HEALTH_PROPS = {
    "provider": STRING,
    "requests": INTEGER,
    "successes": INTEGER,
    "failures": INTEGER,
    "success_rate": NUMBER,
    "average_latency_ms": NUMBER,
    "last_success_time": TIME,
    "last_failure_time": TIME,
    "last_error_type": STRING,
}
_USAGE_REPORT_PROPS = {
    **_COSTS_PROPS,
    "fallback_events": {"type": "array", "items": ref("FallbackEvent")},
    "provider_health": {
        "type": "array",
        "items": obj(list(_PROVIDER_HEALTH_PROPS), _PROVIDER_HEALTH_PROPS),
    },
}
_USAGE_REPORT_PROPS |= {
    "caller": obj(
        ["api_key_id", "team_id", "admin"],
        {
            "api_key_id": {"type": ["string", "null"]},
            "team_id": STRING,
            "admin": {"type": "boolean"},
        },
    ),
    "budgets": {
        **_BUDGETS,
        "description": "The budget rules that apply: the caller's own key's and its team's "
        "(an admin's: all, or those of the api_key_id and team_id asked for).",
    },
}
_USAGE_REPORT = obj(list(_USAGE_REPORT_PROPS), _USAGE_REPORT_PROPS)

_REQUEST_ENTRY_PROPS = {
    "object": {"const": "llmrouter.request"},
    **{
        name: STRING
        for name in (
            "request_id", "api_key_id", "category", "source", "model", "provider", "error_type",
            "trace_id", "client_request_id",
        )
    },
    "time": TIME,
    "models": {"type": "array", "items": STRING},
    "attempts": INTEGER,
    "status": {"enum": [*STATUSES, "unspecified"]},
    **{
        name: INTEGER
        for name in (
            "prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens",
            "cache_write_tokens", "reasoning_tokens",
        )
    },
    "cost_usd": NUMBER,
    "latency_ms": NUMBER,
    "trace_url": {"type": ["string", "null"]},
    "streamed": {"type": "boolean"},
    "usage_estimated": {"type": "boolean"},
    "deployments": {"type": "array", "items": STRING},
    "deployment": STRING,
}  # fmt: skip
_REQUEST_ENTRY = obj(
    list(_REQUEST_ENTRY_PROPS),
    _REQUEST_ENTRY_PROPS,
    description="One client request, its attempts grouped: 'time' is its first attempt's "
    "(as recorded, when that attempt ended), 'models' the model of every attempt in order, "
    "'model' / 'provider' / 'deployment' the one that answered (else the last tried), "
    "'deployments' the deployment of every attempt in order ('' for a model without "
    "deployments), 'status' succeeded when "
    "any attempt did (else the last attempt's, with its error_type), tokens and cost summed "
    "over the attempts, 'latency_ms' end to end (first attempt's start to last attempt's end). "
    "No prompt or completion text.",
)
_REQUEST_LIST = obj(
    ["object", "data", "has_more", "next_page_token"],
    {
        "object": {"const": "list"},
        "data": {"type": "array", "items": ref("RequestLogEntry")},
        "has_more": {"type": "boolean"},
        "next_page_token": {
            "type": ["string", "null"],
            "description": "Pass as page_token, with the same filter, for the next page.",
        },
    },
)

_HEALTH_STATE = {
    "type": "string",
    "description": "SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, or when the check itself "
    "failed TIMEOUT, UNREACHABLE, NO_HEALTH_SERVICE.",
}
_READINESS = obj(
    ["status", "router", "metrics"],
    {
        "status": {"enum": ["ready", "not_ready"]},
        "router": _HEALTH_STATE,
        "metrics": _HEALTH_STATE,
        "state": obj(
            ["backend", "address", "reachable"],
            {
                "backend": {"enum": ["embedded", "redis"]},
                "address": {
                    "type": "string",
                    "description": "e.g. redis (redis://cache:6379/0); no credentials.",
                },
                "reachable": {
                    "type": "boolean",
                    "description": "It answered a PING now. False does not make the gateway "
                    "unready: serving goes on without it.",
                },
            },
            description="The shared state ([state]) replicas share limits and admin pushes "
            "through.",
        ),
        "error": {"$ref": "#/components/schemas/Error/properties/error"},
    },
)
_LIVENESS = obj(
    ["status", "auth"], {"status": {"const": "ok"}, "auth": {"enum": ["enabled", "disabled"]}}
)


REPORT_SCHEMAS: Final[dict[str, Any]] = {
    "CostSummary": _SUMMARY,
    "CostGroup": _GROUP,
    "CostReport": _COSTS,
    "FallbackEvent": _FALLBACK_EVENT,
    "UsageReport": _USAGE_REPORT,
    "RequestLogEntry": _REQUEST_ENTRY,
    "RequestList": _REQUEST_LIST,
    "Liveness": _LIVENESS,
    "Readiness": _READINESS,
}
