"""The OpenAPI 3.1 document of the gateway: its paths, parameters and responses.

The schemas are in the other modules of :mod:`gateway.openapi`. The parameters say what the
gateway accepts as precisely as OpenAPI can, so a schema-driven fuzzer (schemathesis) produces
requests the gateway takes and requests it rejects; the rules OpenAPI cannot state across
parameters (``since`` excludes ``start``; a window ends after it starts) are in the
descriptions, and ``tests/gateway/schemathesis_hooks.py`` tells schemathesis about them.
``tests/gateway/test_gateway_openapi.py`` checks that every route is described here and
nothing else.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from gateway.admin import AUDIT_DEFAULT_LIMIT, AUDIT_LIMITS
from gateway.admin_keys import KEY_QUERY
from gateway.context import TIMEOUT_PATTERN
from gateway.front_doors import alias_of
from gateway.openapi.admin import ADMIN_SCHEMAS, CATEGORY_NAME_PATTERN
from gateway.openapi.chat_response import CHAT_SCHEMAS
from gateway.openapi.embeddings import EMBEDDINGS_SCHEMAS
from gateway.openapi.feedback import FEEDBACK_SCHEMAS
from gateway.openapi.keys import KEY_SCHEMAS
from gateway.openapi.messages import MESSAGES_SCHEMAS
from gateway.openapi.models import MODEL_SCHEMAS
from gateway.openapi.parts import obj, ref
from gateway.openapi.reports import REPORT_SCHEMAS
from gateway.openapi.responses import RESPONSES_SCHEMAS
from gateway.request_log_query import CSV_DEFAULT_ROWS, CSV_MAX_ROWS, TOKEN_MAX_CHARS
from gateway.request_log_query import DEFAULT_LIMIT as LOG_DEFAULT_LIMIT
from gateway.request_log_query import MAX_LIMIT as LOG_MAX_LIMIT
from gateway.request_log_query import STATUSES as LOG_STATUSES
from gateway.usage_query import BUCKETS, DIMENSIONS, FILTERS, MAX_LIMIT
from llmrouter import field_limits
from llmrouter.request_ids import REQUEST_ID_PATTERN

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
_LOG_FILTERS = [
    _list_query("key", {"type": "string", "maxLength": 256},
                "Only requests of this API key id (a key that is not an admin key may name only "
                "itself: another is a 403)."),
    _list_query("model", {"type": "string", "maxLength": 256},
                "Only requests with an attempt on this model."),
    _list_query("status", {"enum": list(LOG_STATUSES)},
                "Only requests with this final status."),
    _list_query("category", {"type": "string", "maxLength": 256},
                "Only requests of this category."),
    _query("start", _TIME_PARAM_SCHEMA, "Inclusive start of the first attempt's time: ISO "
           "8601 (UTC if no offset) or unix seconds. Default: the beginning of the ledger."),
    _query("end", _TIME_PARAM_SCHEMA, "Exclusive end, as 'start'; later than the start. "
           "Default: none."),
    _query("page_token", {"type": "string", "pattern": "^[A-Za-z0-9_-]*$",
                          "maxLength": TOKEN_MAX_CHARS},
           "next_page_token of the previous page, with the same filter; absent for the first."),
]  # fmt: skip
_LOG_PARAMS = [
    *_LOG_FILTERS,
    _query("limit", {"type": "integer", "minimum": 1, "maximum": LOG_MAX_LIMIT,
                     "default": LOG_DEFAULT_LIMIT}, "Most requests on the page."),
    _query("format", {"enum": ["json", "csv"], "default": "json"},
           "csv: the CSV export, as /v1/requests.csv ('limit' then counts its rows)."),
]  # fmt: skip
_CSV_PARAMS = [
    *_LOG_FILTERS,
    _query("limit", {"type": "integer", "minimum": 1, "maximum": CSV_MAX_ROWS,
                     "default": CSV_DEFAULT_ROWS}, "Most rows in the file."),
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
        "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN.pattern}$"},
        "description": "Your own id for the request: stored with its usage and echoed as "
        "x-client-request-id, for correlation only (the response's x-request-id is the "
        "server's). Anything else is a 400.",
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
    "schema": {"type": "string", "maxLength": field_limits.SOURCE_MAX_CHARS},
    "description": "Caller tag recorded with usage (llmrouter.source in the body wins).",
}
_CACHE_HEADER = {
    "name": "X-LLMRouter-Cache",
    "in": "header",
    "schema": {"type": "string", "enum": ["on", "off"]},
    "description": "Response cache for this request: on replays an exact earlier answer (and "
    "stores a new complete one), off keeps it out (llmrouter.cache in the body wins). The "
    "answer's x-llmrouter-cache header says hit or miss when the cache was consulted.",
}


# --- operations ----------------------------------------------------------------------------------

_RESPONSE_HEADERS = {
    "x-request-id": {
        "schema": {"type": "string"},
        "required": True,
        "description": "Generated by the server; on completions, the request id of its usage.",
    },
    "x-client-request-id": {
        "schema": {"type": "string"},
        "description": "The X-Request-Id the client sent, if any.",
    },
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


def _read(summary: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An operation that takes only the common headers and answers ``schema`` as JSON."""
    return _operation(summary, _json(schema, description), parameters=list(_HEADER_PARAMS))


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


def _with_response(operation: dict[str, Any], status: str, response: Any) -> dict[str, Any]:
    """``operation`` with one more documented response."""
    return {**operation, "responses": {status: response, **operation["responses"]}}


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
_AUDIT_QUERY = [
    _query(
        name,
        {"type": "integer", "minimum": low, "maximum": high}
        | ({"default": AUDIT_DEFAULT_LIMIT} if name == "limit" else {}),
        "Most events to list."
        if name == "limit"
        else "Only events older than this id (next_before of the previous page).",
    )
    for name, (low, high) in AUDIT_LIMITS.items()
]
_ALERT_QUERY = [
    _query(
        name,
        {"type": "integer", "minimum": low, "maximum": high}
        | ({"default": AUDIT_DEFAULT_LIMIT} if name == "limit" else {}),
        "Most alerts to list."
        if name == "limit"
        else "Only alerts older than this id (next_before of the previous page).",
    )
    for name, (low, high) in AUDIT_LIMITS.items()
]
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
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "The id the router gave it (vk_... for keys, team_... for teams).",
}
_KEY_QUERY_PARAMS = [
    _query(name, {"type": "string"} if name == "team_id" else {"enum": ["true", "false"]},
           "Only this team's keys." if name == "team_id" else "Also list revoked keys.")
    for name in KEY_QUERY
]  # fmt: skip


def _optional_body(operation: dict[str, Any]) -> dict[str, Any]:
    operation["requestBody"]["required"] = False
    return operation


def _created(summary: str, schema: str, body: str) -> dict[str, Any]:
    return {
        **_operation(summary, _json(ref(schema), "unused"), parameters=list(_HEADER_PARAMS),
                     body=ref(body)),
        "responses": {"201": _json(ref(schema), "Created."), "default": _ERROR_RESPONSE},
    }  # fmt: skip


_KEY_PATHS: dict[str, Any] = {
    "/v1/admin/keys": {
        "get": _operation(
            "Virtual API keys, oldest first (never their secrets)",
            _json(ref("ApiKeyList"), "The keys."),
            parameters=[*_HEADER_PARAMS, *_KEY_QUERY_PARAMS],
        ),
        "post": _created(
            "Create a virtual key: its secret is in this answer only", "ApiKeyWithSecret",
            "ApiKeyCreate",
        ),
    },
    "/v1/admin/keys/{id}": {
        "get": _operation(
            "One virtual key", _json(ref("ApiKey"), "The key."),
            parameters=[_ID, *_HEADER_PARAMS],
        ),
        "patch": _operation(
            "Change the fields the body names (null clears an optional one)",
            _json(ref("ApiKey"), "The key as stored."),
            parameters=[_ID, *_HEADER_PARAMS], body=ref("ApiKeyUpdate"),
        ),
    },
    "/v1/admin/keys/{id}/rotate": {
        "post": _optional_body(_operation(
            "A new secret (shown once); the current one works until the overlap ends (no "
            "body: one hour)",
            _json(ref("ApiKeyWithSecret"), "The key and its new secret."),
            parameters=[_ID, *_HEADER_PARAMS], body=ref("ApiKeyRotate"),
        ))
    },
    "/v1/admin/keys/{id}/revoke": {
        "post": _operation(
            "Revoke a key: refused by every gateway within a second",
            _json(ref("ApiKey"), "The revoked key."),
            parameters=[_ID, *_HEADER_PARAMS],
        )
    },
    "/v1/admin/teams": {
        "get": _read("Teams, oldest first", ref("TeamList"), "The teams."),
        "post": _created("Create a team", "Team", "TeamCreate"),
    },
    "/v1/admin/teams/{id}": {
        "patch": _operation(
            "Change a team's name or budgets", _json(ref("Team"), "The team as stored."),
            parameters=[_ID, *_HEADER_PARAMS], body=ref("TeamUpdate"),
        )
    },
}  # fmt: skip

# Sent when the key has a limit (gateway.rate_limit_rpm / rate_limit_tpm, or the key's own).
_RATE_LIMIT_HEADERS = {
    f"x-ratelimit-{what}-{kind}": {
        "schema": {"type": "string"},
        "description": description.format(kind=kind),
    }
    for kind in ("requests", "tokens")
    for what, description in (
        ("limit", "The key's {kind} per minute."),
        ("remaining", "The {kind} left in the sliding minute, after this request."),
        ("reset", "Time until the minute holds none of the key's {kind} (e.g. 1s, 6m0s, 20ms)."),
    )
}
_RATE_LIMITED = {
    "description": "A per-key limit is used up (error type 'requests' or 'tokens', code "
    "'rate_limit_exceeded'); Retry-After says when the request fits, unless it never can.",
    "headers": {
        **_RESPONSE_HEADERS,
        **_RATE_LIMIT_HEADERS,
        "retry-after": {"schema": {"type": "string"}, "description": "Seconds to wait."},
    },
    "content": {"application/json": {"schema": ref("Error")}},
}

_CHAT_OK = {
    "description": "The completion; with 'stream': true, server-sent events of "
    "chat.completion.chunk objects ending with 'data: [DONE]'.",
    "headers": {**_SERVED_BY_HEADERS, **_RATE_LIMIT_HEADERS},
    "content": {
        "application/json": {"schema": ref("ChatCompletion")},
        "text/event-stream": {"schema": ref("ChatCompletionEvent")},
    },
}

_CSV_OK = {
    "description": "A CSV file (RFC 4180, a header row), streamed as an attachment; cut off "
    "without its last chunk if the metrics service fails mid-way.",
    "headers": {
        **_RESPONSE_HEADERS,
        "content-disposition": {"schema": {"type": "string"}},
    },
    "content": {"text/csv": {"schema": {"type": "string"}}},
}

_ANTHROPIC_HEADERS = [
    {
        "name": name,
        "in": "header",
        "schema": {"type": "string"},
        "description": description,
    }
    for name, description in (
        ("anthropic-version", "Accepted and not required (the answers are 2023-06-01's)."),
        ("anthropic-beta", "Accepted and ignored."),
    )
]
_ANTHROPIC_ERROR = {
    "description": "An error, in Anthropic's shape, with a request-id header.",
    "headers": _RESPONSE_HEADERS,
    "content": {"application/json": {"schema": ref("AnthropicError")}},
}


def _anthropic(summary: str, ok: dict[str, Any], body: str) -> dict[str, Any]:
    operation = _operation(
        summary,
        ok,
        parameters=[*_HEADER_PARAMS, *_ANTHROPIC_HEADERS, _SOURCE_HEADER, _CACHE_HEADER],
        body=ref(body),
    )
    operation["responses"]["default"] = _ANTHROPIC_ERROR
    return operation


_MESSAGES_OK = {
    "description": "The message; with 'stream': true, its server-sent events.",
    "headers": {**_SERVED_BY_HEADERS, **_RATE_LIMIT_HEADERS},
    "content": {
        "application/json": {"schema": ref("AnthropicMessage")},
        "text/event-stream": {"schema": ref("AnthropicMessageEvents")},
    },
}

_RESPONSES_OK = {
    "description": "The response; with 'stream': true, its server-sent events (a failure after "
    "the start is a response.failed event, which ends the stream).",
    "headers": {**_SERVED_BY_HEADERS, **_RATE_LIMIT_HEADERS},
    "content": {
        "application/json": {"schema": ref("Response")},
        "text/event-stream": {"schema": ref("ResponseEvents")},
    },
}

# Served at these paths and at the same without /v1 (gateway.front_doors); document() lists both.
_FRONT_DOORS: Final = {
    "/v1/messages": {
        "post": _anthropic(
            "Create a message (Anthropic Messages API), served by any model the router has",
            _MESSAGES_OK,
            "MessagesRequest",
        )
    },
    "/v1/messages/count_tokens": {
        "post": _anthropic(
            "Count a message's input tokens: the router's estimate (no upstream call)",
            _json(ref("TokenCount"), "The estimate."),
            "CountTokensRequest",
        )
    },
    "/v1/chat/completions": {
        "post": _with_response(
            _operation(
                "Create a chat completion (OpenAI-compatible)",
                _CHAT_OK,
                parameters=[*_HEADER_PARAMS, _SOURCE_HEADER, _CACHE_HEADER],
                body=ref("ChatCompletionRequest"),
            ),
            "429",
            _RATE_LIMITED,
        )
    },
    "/v1/responses": {
        "post": _with_response(
            _operation(
                "Create a model response (OpenAI Responses API, stateless), served by any model "
                "the router has",
                _RESPONSES_OK,
                parameters=[*_HEADER_PARAMS, _SOURCE_HEADER, _CACHE_HEADER],
                body=ref("ResponsesRequest"),
            ),
            "429",
            _RATE_LIMITED,
        )
    },
    "/v1/embeddings": {
        "post": _with_response(
            _operation(
                "Create embeddings (OpenAI-compatible), served by embedding models with failover",
                {
                    "description": "One vector per input, in input order, all from one model.",
                    "headers": {
                        **_SERVED_BY_HEADERS,
                        **_RATE_LIMIT_HEADERS,
                        "x-llmrouter-upstream-calls": {"schema": {"type": "string"}},
                    },
                    "content": {"application/json": {"schema": ref("EmbeddingList")}},
                },
                parameters=[*_HEADER_PARAMS, _SOURCE_HEADER],
                body=ref("EmbeddingsRequest"),
            ),
            "429",
            _RATE_LIMITED,
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
    "/v1/feedback": {
        "post": _operation(
            "Score an answer by its id: thumbs, 1-5 stars or a fraction, with an optional "
            "label and comment (stored per id and source; a repeat replaces). A key scores "
            "only its own (or its team's) requests, admin keys any: 403 otherwise, 404 for an "
            "unknown id",
            _json(ref("Feedback"), "The stored score; 'replaced' when it replaced one."),
            parameters=list(_HEADER_PARAMS),
            body=ref("FeedbackRequest"),
        )
    },
    "/v1/models": {
        "get": _read(
            "List 'auto', the categories and every model (enabled or not), with context "
            "windows, capabilities and prices (OpenAI-compatible)",
            ref("ModelList"),
            "The models.",
        )
    },
    "/v1/models/{model}": {
        "get": _operation(
            "One model or category of /v1/models, by id or alias (404 'model_not_found' otherwise)",
            _json(ref("Model"), "The model."),
            parameters=[
                *_HEADER_PARAMS,
                {
                    "name": "model",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                    "description": "A model name or alias, a category or 'auto' (may contain '/').",
                    "example": "sim-small",
                },
            ],
        )
    },
}

_PATHS: Final = {
    "/v1/costs": {
        "get": _operation(
            "Costs, tokens, latency, fallbacks and savings over a window, grouped by api_key or "
            "team with each row's budgets (the caller's own key unless it is an admin key; "
            "another key's api_key_id or another team's team_id is a 403)",
            _json(ref("CostReport"), "The cost report."),
            parameters=[*_HEADER_PARAMS, *_COST_PARAMS],
        )
    },
    "/v1/usage": {
        "get": _operation(
            "The caller's own usage: the cost report plus recent fallback events, provider "
            "health and its key's and team's budgets with what remains (scoped as /v1/costs)",
            _json(ref("UsageReport"), "The usage report."),
            parameters=[*_HEADER_PARAMS, *_COST_PARAMS, _LIMIT_PARAM],
        )
    },
    "/v1/requests": {
        "get": _operation(
            "The request log: one entry per client request (its attempts grouped), newest "
            "first, paged; the caller's own key's requests unless it is an admin key",
            {
                **_json(
                    ref("RequestList"), "A page of requests (or with format=csv, the CSV export)."
                ),
                "content": {
                    "application/json": {"schema": ref("RequestList")},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            parameters=[*_HEADER_PARAMS, *_LOG_PARAMS],
        )
    },
    "/v1/requests.csv": {
        "get": _operation(
            "The request log as CSV, same filter as /v1/requests, read page by page",
            _CSV_OK,
            parameters=[*_HEADER_PARAMS, *_CSV_PARAMS],
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
        "get": _read(
            "Every model with its live health (circuit, success rate, EWMA latency); every "
            "/v1/admin route needs an admin key (403 otherwise)",
            ref("ModelHealthList"),
            "The models, in registry order.",
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
    "/v1/admin/providers": {
        "get": _read(
            "Every provider with the base URL in use and where it comes from (config or runtime)",
            ref("ProviderList"),
            "The providers, in config order.",
        )
    },
    "/v1/admin/audit": {
        "get": _operation(
            "Admin changes, newest first: who made each (credential and API key), what it "
            "changed (before and after) and when",
            _json(ref("AuditLog"), "A page of the audit log."),
            parameters=[*_HEADER_PARAMS, *_AUDIT_QUERY],
        )
    },
    "/v1/admin/alerts": {
        "get": _operation(
            "Alerts fired, newest first: budget thresholds and a key's error rate or latency, "
            "with the webhook payload and how its delivery went",
            _json(ref("AlertList"), "A page of alerts."),
            parameters=[*_HEADER_PARAMS, *_ALERT_QUERY],
        )
    },
    "/v1/admin/budgets": {
        "get": _read(
            "Every budget rule with its current period, spent, reserved and remaining USD",
            ref("BudgetList"),
            "The budgets, in config order.",
        )
    },
    "/v1/admin/evaluation": {
        "post": _optional_body(
            _operation(
                "Run an evaluation job now: the judge model grades the pending sampled answers "
                "(README, Evaluation jobs); 409 when evaluation is off or store_content is false",
                _json(ref("EvaluationResult"), "What the run did."),
                parameters=list(_HEADER_PARAMS),
                body=ref("EvaluationRun"),
            )
        )
    },
    "/v1/admin/quality": {
        "get": _read(
            "The router's quality estimates per model x category, learned from feedback: "
            "prior, scores, posterior with its 90 % credible interval, and whether scoring "
            "uses it",
            ref("QualityEstimateList"),
            "The estimates, by model then category.",
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
        "get": _read(
            "Categories in matching order, with their chains and keywords",
            ref("CategoryList"),
            "The categories.",
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
        "paths": _with_aliases(_FRONT_DOORS) | copy.deepcopy({**_PATHS, **_KEY_PATHS}),
        "components": {
            "schemas": copy.deepcopy(
                {
                    **CHAT_SCHEMAS,
                    **MESSAGES_SCHEMAS,
                    **RESPONSES_SCHEMAS,
                    **EMBEDDINGS_SCHEMAS,
                    **MODEL_SCHEMAS,
                    **REPORT_SCHEMAS,
                    **FEEDBACK_SCHEMAS,
                    **ADMIN_SCHEMAS,
                    **KEY_SCHEMAS,
                }
            ),
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


def _with_aliases(paths: dict[str, Any]) -> dict[str, Any]:
    """Each front door at its ``/v1`` path, then each at its alias (the same operation, its
    summary saying so)."""
    result = copy.deepcopy(paths)
    for path, item in paths.items():
        result[alias_of(path)] = {
            method: {
                **copy.deepcopy(operation),
                "summary": f"{operation['summary']} (alias of {path}, for a base URL without /v1)",
            }
            for method, operation in item.items()
        }
    return result
