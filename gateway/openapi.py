"""The OpenAPI 3.1 description of the gateway, written by hand (served at ``/openapi.json``).

Paths, parameters and responses are here; the schemas are in :mod:`gateway.openapi_chat` and
:mod:`gateway.openapi_reports`. The parameters say what the gateway accepts as precisely as
OpenAPI can, so a schema-driven fuzzer (schemathesis) produces requests the gateway takes and
requests it rejects; the rules OpenAPI cannot state across parameters (``since`` excludes
``start``; a window ends after it starts) are in the descriptions, and
``tests/gateway/schemathesis_hooks.py`` tells schemathesis about them.
``tests/gateway/test_gateway_openapi.py`` checks that every route is described here and
nothing else.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from gateway.context import TIMEOUT_PATTERN
from gateway.openapi_admin import ADMIN_SCHEMAS, CATEGORY_NAME_PATTERN
from gateway.openapi_chat import CHAT_SCHEMAS
from gateway.openapi_reports import REPORT_SCHEMAS
from gateway.schema_parts import obj, ref
from gateway.usage_query import BUCKETS, DIMENSIONS, FILTERS, MAX_LIMIT

__all__ = ["document"]

_JSON: Final = {"type": "object"}

# --- parameters ----------------------------------------------------------------------------------

_TIME_PARAM_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": r"^[0-9]{1,11}(\.[0-9]{1,9})?$"},
    ]
}


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _list_query(name: str, items: dict[str, Any], description: str) -> dict[str, Any]:
    schema = {"type": "array", "items": items}
    return _query(name, schema, description + " Repeat it or use commas.", explode=True)


_WINDOW_PARAMS = [
    _query("start", _TIME_PARAM_SCHEMA, "Inclusive start: ISO 8601 (UTC if no offset) or "
           "unix seconds. Default: the beginning of the ledger."),
    _query("end", _TIME_PARAM_SCHEMA, "Exclusive end, as 'start'; later than the start. "
           "Default: now."),
    _query("since", {"type": "string", "pattern": "^[1-9][0-9]{0,5}[smhdw]$"},
           "A window of this length ending at 'end' (e.g. 24h, 7d); not with 'start'."),
]  # fmt: skip
_COST_PARAMS = [
    *_WINDOW_PARAMS,
    _list_query("group_by", {"enum": list(DIMENSIONS)}, "Dimensions to group by."),
    _query("bucket", {"enum": list(BUCKETS)}, "Also group by time bucket."),
    _query("reference_model", {"type": "string", "maxLength": 256},
           "Model to compute savings against (default: the metrics service's)."),
    *[
        _list_query(name, {"type": "string", "maxLength": 256}, f"Only records of this {name}.")
        for name in FILTERS
    ],
]  # fmt: skip
_LIMIT_PARAM = _query(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "Most fallback events to list.",
)
_HEADER_PARAMS = [
    {
        "name": "X-Request-Id",
        "in": "header",
        "schema": {"type": "string"},
        "description": "Kept when it matches [A-Za-z0-9._:-]{1,128}, else replaced.",
    },
    {
        "name": "X-Request-Timeout",
        "in": "header",
        "schema": {"type": "string", "pattern": f"^{TIMEOUT_PATTERN.pattern}$"},
        "description": "Seconds the request may take, at least 1 (the gRPC deadline); capped "
        "by the server's request_timeout_s.",
    },
]
_SOURCE_HEADER = {
    "name": "X-LLMRouter-Source",
    "in": "header",
    "schema": {"type": "string"},
    "description": "Caller tag recorded with usage (llmrouter.source in the body wins).",
}


# --- operations ----------------------------------------------------------------------------------

_RESPONSE_HEADERS = {
    "x-request-id": {"schema": {"type": "string"}, "required": True},
}
_SERVED_BY_HEADERS = {
    **_RESPONSE_HEADERS,
    **{
        f"x-llmrouter-{name}": {"schema": {"type": "string"}}
        for name in ("model", "provider", "attempts", "fallback", "trace-id")
    },
}


def _json(schema: dict[str, Any], description: str, headers: Any = None) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers or _RESPONSE_HEADERS,
        "content": {"application/json": {"schema": schema}},
    }


_ERROR_RESPONSE = _json(ref("Error"), "An error, in OpenAI's shape.")


def _operation(
    summary: str,
    ok: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    open_: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters or [],
        "responses": {"200": ok, "default": _ERROR_RESPONSE},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if open_:
        operation["security"] = []
    return operation


def _path_name(description: str, example: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, **schema},
        "description": description,
        "example": example,
    }


_MODEL_NAME = _path_name("A registry model name or alias (may contain '/').", "sim-small")
_PROVIDER_NAME = _path_name("A provider name from the router's config.", "simulated")
_CATEGORY_NAME = _path_name("A category name.", "code", pattern=CATEGORY_NAME_PATTERN)
_SUMMARY_QUERY = [
    _query(
        "since",
        {"type": "string", "pattern": "^[1-9][0-9]{0,5}[smhdw]$", "default": "24h"},
        "Window of the totals, the per-model figures, fallback events and provider health.",
    ),
    _query("reference_model", {"type": "string", "maxLength": 256},
           "Model to compute savings against (default: the metrics service's)."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
           "Most fallback events to list."),
]  # fmt: skip
_MODELS_CHANGED = _json(ref("ModelHealthList"), "The models whose switch was set.")

_CHAT_OK = {
    "description": "The completion; with 'stream': true, server-sent events of "
    "chat.completion.chunk objects ending with 'data: [DONE]'.",
    "headers": _SERVED_BY_HEADERS,
    "content": {
        "application/json": {"schema": ref("ChatCompletion")},
        "text/event-stream": {"schema": ref("ChatCompletionEvent")},
    },
}

_PATHS: Final = {
    "/v1/chat/completions": {
        "post": _operation(
            "Create a chat completion (OpenAI-compatible)",
            _CHAT_OK,
            parameters=[*_HEADER_PARAMS, _SOURCE_HEADER],
            body=ref("ChatCompletionRequest"),
        )
    },
    "/v1/route": {
        "post": _operation(
            "Show which models the router would try for a chat request, and why",
            _json(ref("RouteDecision"), "The category and the ordered candidate chain."),
            parameters=[*_HEADER_PARAMS, _SOURCE_HEADER],
            body=ref("ChatCompletionRequest"),
        )
    },
    "/v1/models": {
        "get": _operation(
            "List the models ('auto' first)",
            _json(ref("ModelList"), "The models."),
            parameters=list(_HEADER_PARAMS),
        )
    },
    "/v1/costs": {
        "get": _operation(
            "Costs, tokens, latency, fallbacks and savings over a window",
            _json(ref("CostReport"), "The cost report."),
            parameters=[*_HEADER_PARAMS, *_COST_PARAMS],
        )
    },
    "/v1/usage": {
        "get": _operation(
            "The cost report plus recent fallback events and provider health",
            _json(ref("UsageReport"), "The usage report."),
            parameters=[*_HEADER_PARAMS, *_COST_PARAMS, _LIMIT_PARAM],
        )
    },
    "/v1/dashboard/summary": {
        "get": _operation(
            "Everything the dashboard shows, in one round trip; parts of a service that does "
            "not answer are null and the service is listed under 'unavailable'",
            _json(ref("DashboardSummary"), "The summary."),
            parameters=[*_HEADER_PARAMS, *_SUMMARY_QUERY],
        )
    },
    "/v1/admin/models": {
        "get": _operation(
            "Every model with its live health (circuit, success rate, EWMA latency)",
            _json(ref("ModelHealthList"), "The models, in registry order."),
            parameters=list(_HEADER_PARAMS),
        )
    },
    "/v1/admin/models/{name}/enabled": {
        "post": _operation(
            "Enable or disable a model (persisted by the router)",
            _MODELS_CHANGED,
            parameters=[_MODEL_NAME, *_HEADER_PARAMS],
            body=ref("EnabledRequest"),
        )
    },
    "/v1/admin/models/{name}/reset-breaker": {
        "post": _operation(
            "Close a model's circuit breaker and forget its failures",
            _json(obj(["model"], {"model": ref("ModelHealth")}), "The model's health now."),
            parameters=[_MODEL_NAME, *_HEADER_PARAMS],
        )
    },
    "/v1/admin/providers/{name}/enabled": {
        "post": _operation(
            "Enable or disable every model of a provider",
            _MODELS_CHANGED,
            parameters=[_PROVIDER_NAME, *_HEADER_PARAMS],
            body=ref("EnabledRequest"),
        )
    },
    "/v1/admin/categories": {
        "get": _operation(
            "Categories in matching order, with their chains and keywords",
            _json(ref("CategoryList"), "The categories."),
            parameters=list(_HEADER_PARAMS),
        ),
        "post": {
            **_operation(
                "Add a category after the others (validated and persisted by the router)",
                _json(ref("Category"), "unused"),
                parameters=list(_HEADER_PARAMS),
                body=ref("CategoryCreate"),
            ),
            "responses": {
                "201": _json(ref("Category"), "The category as stored."),
                "default": _ERROR_RESPONSE,
            },
        },
    },
    "/v1/admin/categories/{name}": {
        "put": _operation(
            "Replace a category's chain and keywords",
            _json(ref("Category"), "The category as stored."),
            parameters=[_CATEGORY_NAME, *_HEADER_PARAMS],
            body=ref("CategoryUpdate"),
        ),
        "delete": _operation(
            "Remove a category",
            _json(ref("CategoryDeleted"), "Deleted."),
            parameters=[_CATEGORY_NAME, *_HEADER_PARAMS],
        ),
    },
    "/healthz": {
        "get": _operation(
            "Liveness: the process serves HTTP", _json(ref("Liveness"), "Alive."), open_=True
        )
    },
    "/readyz": {
        "get": {
            **_operation(
                "Readiness: router and metrics report SERVING",
                _json(ref("Readiness"), "Both services are serving."),
                open_=True,
            ),
            "responses": {
                "200": _json(ref("Readiness"), "Both services are serving."),
                "503": _json(ref("Readiness"), "A service is not serving; the body says which."),
                "default": _ERROR_RESPONSE,
            },
        }
    },
    "/openapi.json": {"get": _operation("This document", _json(_JSON, "OpenAPI 3.1."), open_=True)},
    "/dashboard": {
        "get": {
            **_operation(
                "The dashboard page (status, analytics, settings): an HTML shell without data "
                "that asks for an API key and then calls the endpoints above",
                _json(_JSON, "unused"),
                open_=True,
            ),
            "responses": {
                "200": {
                    "description": "The page; its scripts are under /dashboard/static/.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/metrics": {
        "get": {
            **_operation("Prometheus metrics of the gateway", _json(_JSON, "unused"), open_=True),
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
}


def document(*, auth_enabled: bool) -> dict[str, Any]:
    """The OpenAPI document; API keys are required by it only when ``auth_enabled``."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "llmrouter gateway",
            "version": "1",
            "description": "OpenAI-compatible chat completions with routing and failover, "
            "plus routing decisions, cost reports, health, operator controls and a dashboard.",
        },
        "paths": copy.deepcopy(_PATHS),
        "components": {
            "schemas": copy.deepcopy({**CHAT_SCHEMAS, **REPORT_SCHEMAS, **ADMIN_SCHEMAS}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }
    if auth_enabled:
        doc["security"] = [{"bearer": []}, {"apiKey": []}]
    else:
        for path in doc["paths"].values():
            for operation in path.values():
                operation.pop("security", None)
    return doc
