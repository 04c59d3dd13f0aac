"""JSON Schemas of the operator endpoints (``/v1/admin/*``) and of the dashboard's summary.

The category rules are the router's (it validates every change): a name of 1-64 lower-case
letters, digits, ``_``, ``-`` or ``.``; a chain of 1-32 registry model names; at most 200
keywords of 1-100 characters, not blank. That a chain names models the router knows cannot be
said in a schema; the router answers 400 with ``param`` naming the entry (``chain[1]``).
"""

from __future__ import annotations

from typing import Any, Final

from gateway.dashboard.figures import ADDITIVE
from gateway.dashboard.summary import DAYS, HOURS
from gateway.openapi.parts import INTEGER, NUMBER, STRING, TIME, obj, ref
from gateway.translate.admin import ALERT_DELIVERY_STATUSES, BREAKER_STATES, VALUE_SOURCES

__all__ = [
    "ADMIN_SCHEMAS",
    "CATEGORY_NAME_PATTERN",
]

CATEGORY_NAME_PATTERN: Final = "^[a-z0-9][a-z0-9_.-]{0,63}$"
_NULLABLE_NUMBER: Final = {"type": ["number", "null"]}
_SOURCE: Final = {
    "enum": list(VALUE_SOURCES),
    "description": "config: the router's config file; runtime: an admin change overriding it "
    "(kept in the router's admin store, applied by every replica sharing it).",
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


_MODEL_HEALTH_PROPS = {
    "model": STRING,
    "provider": STRING,
    "enabled": {"type": "boolean"},
    "enabled_source": _SOURCE,
    "local": {"type": "boolean"},
    "breaker_state": {"enum": list(BREAKER_STATES)},
    "breaker_retry_after_ms": {
        **_NULLABLE_NUMBER,
        "description": "When the breaker is open: time until it admits a probe.",
    },
    "success_rate": {
        **_NULLABLE_NUMBER,
        "description": "Share of the last 100 attempts that succeeded; null before any.",
    },
    "ewma_latency_ms": {
        **_NULLABLE_NUMBER,
        "description": "Moving average of successful attempts' latency; null before any.",
    },
    "success_count": INTEGER,
    "failure_count": INTEGER,
    "consecutive_failures": INTEGER,
    "last_success_time": TIME,
    "last_failure_time": TIME,
    "last_error_type": STRING,
    "deployment": {
        "type": ["string", "null"],
        "description": "The deployment these figures are of (null for a model without "
        "deployments; a model with deployments: its first).",
    },
    "deployments": _array(
        ref("ModelHealth"),
        description="A model with deployments: each deployment's own breaker and statistics.",
    ),
}
_MODEL_HEALTH = obj(list(_MODEL_HEALTH_PROPS), _MODEL_HEALTH_PROPS)
_MODEL_HEALTH_LIST = obj(["models"], {"models": _array(ref("ModelHealth"))})

_ENABLED_REQUEST = {
    "type": "object",
    "required": ["enabled"],
    "properties": {"enabled": {"type": "boolean"}},
    "additionalProperties": False,
}

_NAME = {"type": "string", "pattern": CATEGORY_NAME_PATTERN}
_CHAIN = _array({"type": "string"}, minItems=1, maxItems=32, description="Model names, in order.")
_KEYWORDS = _array(
    {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
    maxItems=200,
    description="Whole words, case-insensitive; empty uses the built-in ones for code and "
    "reasoning.",
)
_MIN_QUALITY = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": 1,
    "description": "Quality-bounded routing: the cheapest model of the chain estimated to reach "
    'this quality for a request comes first (README "Learned routing"); null: none. Set as '
    "given by create and update (absent clears it).",
}
_CATEGORY = obj(
    ["name", "chain", "keywords", "source", "cache", "min_quality"],
    {
        "name": STRING,
        "chain": _array(STRING),
        "keywords": _array(STRING),
        "source": _SOURCE,
        "cache": {
            "type": "boolean",
            "readOnly": True,
            "description": "Whether the response cache serves and stores this category's "
            "answers ([[router.categories]] cache; an edit keeps it).",
        },
        "min_quality": _MIN_QUALITY,
    },
)
_PROVIDER_PROPS = {
    "name": STRING,
    "kind": {"type": "string", "description": "simulated, openai, anthropic or ollama"},
    "base_url": {"type": ["string", "null"], "description": "null for simulated providers."},
    "base_url_source": _SOURCE,
    "local": {"type": "boolean"},
}
_PROVIDER_LIST = obj(
    ["providers"], {"providers": _array(obj(list(_PROVIDER_PROPS), _PROVIDER_PROPS))}
)
_BUDGET_PROPS: dict[str, Any] = {
    "id": STRING,
    "scope": {"type": "string", "enum": ["key", "team"]},
    "subject": {"type": "string", "description": "The API key id or team id."},
    "period": {"type": "string", "description": "day, week, month (UTC) or rolling:<seconds>"},
    "period_start": TIME,
    "period_end": TIME,
    "spent_usd": NUMBER,
    "reserved_usd": {**NUMBER, "description": "Worst-case cost of attempts in flight."},
    "remaining_usd": NUMBER,
    "soft_usd": _nullable(NUMBER),
    "hard_usd": NUMBER,
    "local": {"type": "boolean", "description": "Read from one router's own counters."},
}
_BUDGET_LIST = obj(["budgets"], {"budgets": _array(obj(list(_BUDGET_PROPS), _BUDGET_PROPS))})
_EVALUATION_RUN = {
    "type": "object",
    "properties": {
        "limit": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**31 - 1,
            "description": "Grade at most this many pending samples (0 or absent: all).",
        }
    },
    "additionalProperties": False,
}
_EVALUATION_PROPS: dict[str, Any] = {
    "graded": {"type": "integer", "description": "Samples graded and sent as feedback."},
    "failed": {"type": "integer", "description": "Samples whose grading failed (kept)."},
    "pending": {"type": "integer", "description": "Samples still waiting."},
    "judge_cost_usd": {**NUMBER, "description": "USD the judge's calls of this run cost."},
}
_EVALUATION_RESULT = obj(list(_EVALUATION_PROPS), _EVALUATION_PROPS)
_CATEGORY_CREATE = {
    "type": "object",
    "required": ["name", "chain"],
    "properties": {
        "name": _NAME,
        "chain": _CHAIN,
        "keywords": _KEYWORDS,
        "min_quality": _MIN_QUALITY,
    },
    "additionalProperties": False,
}
_CATEGORY_UPDATE = {
    "type": "object",
    "required": ["chain"],
    "properties": {
        "name": {**_NAME, "description": "If given, the name in the path (no renames)."},
        "chain": _CHAIN,
        "keywords": _KEYWORDS,
        "min_quality": _MIN_QUALITY,
    },
    "additionalProperties": False,
}
_CATEGORY_LIST = obj(
    ["classification_mode", "categories"],
    {
        "classification_mode": {"type": "string", "description": "keywords, classifier, hybrid"},
        "categories": _array(ref("Category")),
    },
)
_CATEGORY_DELETED = obj(["name", "deleted"], {"name": STRING, "deleted": {"const": True}})

# Rows summed from several groups: what adds up, plus re-weighted average latency and rates.
_SUMMED_PROPS = {
    **{name: NUMBER if name.endswith("_usd") else INTEGER for name in ADDITIVE},
    "average_latency_ms": NUMBER,
    "success_rate": NUMBER,
    "fallback_rate": NUMBER,
}
_BUCKET_ROW = obj([*_SUMMED_PROPS, "bucket_start"], {**_SUMMED_PROPS, "bucket_start": TIME})
_MODEL_ROW = obj([*_SUMMED_PROPS, "model"], {**_SUMMED_PROPS, "model": STRING})
_AVAILABILITY = {
    "allOf": [
        ref("Category"),
        obj(
            ["available_models", "available"],
            {
                "available_models": _array(STRING),
                "available": {
                    "type": "boolean",
                    "description": "Some model of the chain is enabled and its breaker not open.",
                },
            },
        ),
    ]
}
_EVENT = {
    "allOf": [
        ref("FallbackEvent"),
        obj(
            ["trace_url"],
            {
                "trace_url": {
                    "type": ["string", "null"],
                    "description": "gateway.trace_url with the trace id, else "
                    "{jaeger_url}/trace/{id}; null without a trace id or a viewer.",
                }
            },
        ),
    ]
}
_SUMMARY_PROPS = {
    "time": TIME,
    "since": STRING,
    "start": TIME,
    "end": TIME,
    "jaeger_url": STRING,
    "router_replicas": INTEGER,
    "caller": obj(
        ["api_key_id", "admin"],
        {
            "api_key_id": {"type": ["string", "null"], "description": "null when auth is off."},
            "admin": {
                "type": "boolean",
                "description": "An admin key (or auth off): usage of every key, and Settings. "
                "Otherwise the figures and events are this key's own.",
            },
        },
    ),
    "reference_model": {"type": ["string", "null"]},
    "totals": _nullable(ref("CostSummary")),
    "by_model": {
        "type": ["array", "null"],
        "items": _MODEL_ROW,
        "description": "Per model over the window, busiest first (no percentile: the window's "
        "p95 is in totals).",
    },
    "hourly": {
        "type": ["array", "null"],
        "items": _BUCKET_ROW,
        "description": f"The last {HOURS} UTC hours, this one last, empty ones as zeros.",
    },
    "daily": {
        "type": ["array", "null"],
        "items": _BUCKET_ROW,
        "description": f"The last {DAYS} UTC days, today last, empty ones as zeros. Past days "
        "may lag late records by up to a minute (they are cached).",
    },
    "tokens_this_hour": {"type": ["integer", "null"]},
    "fallbacks_today": {"type": ["integer", "null"]},
    "fallbacks_week": {
        "type": ["integer", "null"],
        "description": "Today and the six UTC days before.",
    },
    "fallback_events": {"type": ["array", "null"], "items": _EVENT},
    "provider_health": {
        "type": ["array", "null"],
        "items": {"$ref": "#/components/schemas/UsageReport/properties/provider_health/items"},
    },
    "models": {"type": ["array", "null"], "items": ref("ModelHealth")},
    "categories": {"type": ["array", "null"], "items": _AVAILABILITY},
    "classification_mode": {"type": ["string", "null"]},
    "unavailable": _array(
        obj(
            ["service", "message"], {"service": {"enum": ["router", "metrics"]}, "message": STRING}
        ),
        description="Services whose part is null because they did not answer.",
    ),
}
_SUMMARY = obj(list(_SUMMARY_PROPS), _SUMMARY_PROPS)

_AUDIT_EVENT_PROPS = {
    "id": {"type": "integer", "description": "Increasing with each event."},
    "time": TIME,
    "actor": {
        "type": "string",
        "description": "The credential that called the router: token:<ENV_NAME> (the variable "
        "holding the token, never the token), cert:<common name> (mTLS) or anonymous.",
    },
    "api_key_id": {
        "type": ["string", "null"],
        "description": "The gateway API key the change was made with; null when made on the "
        "router directly.",
    },
    "action": {
        "type": "string",
        "description": "set_model_enabled, reset_breaker, create_category, update_category, "
        "delete_category, set_provider_base_url or import_state_file.",
    },
    "target": {"type": "string", "description": "model:<name>, provider:<name>, category:<name>"},
    "before": {"type": "object", "description": "Each key touched and its value before."},
    "after": {"type": "object", "description": "Each key touched and its value after."},
    "version": {"type": "integer", "description": "The admin store's version after it."},
}
_AUDIT = obj(
    ["events", "next_before"],
    {
        "events": _array(obj(list(_AUDIT_EVENT_PROPS), _AUDIT_EVENT_PROPS)),
        "next_before": {
            "type": ["integer", "null"],
            "description": "Pass as 'before' for older events; null on the last page.",
        },
    },
)

_ALERT_PROPS = {
    "id": {"type": "integer", "description": "Increasing with each alert."},
    "alert_id": {"type": "string", "description": "The id in the webhook payload."},
    "time": TIME,
    "kind": {
        "enum": ["budget_threshold", "budget_soft_limit", "error_rate", "latency"],
        "description": "What crossed its threshold.",
    },
    "scope": {"enum": ["key", "team"], "description": "What subject names."},
    "subject": {"type": "string", "description": "An API key id or a team name."},
    "threshold": {
        "type": "number",
        "description": "Percent of the hard limit, the soft limit in USD, an error rate (0-1) "
        "or seconds of p95 latency.",
    },
    "value": {"type": "number", "description": "The value that crossed it, in its unit."},
    "message": STRING,
    "payload": {"type": "object", "description": "The webhook body as sent."},
    "delivery": obj(
        ["status", "attempts", "error", "time"],
        {
            "status": {"enum": [*ALERT_DELIVERY_STATUSES.values(), "unspecified"]},
            "attempts": {"type": "integer", "description": "POSTs made, over every webhook."},
            "error": {
                "type": ["string", "null"],
                "description": "The last failure (the webhook's scheme and host, the reason).",
            },
            "time": TIME,
        },
    ),
}
_ALERTS = obj(
    ["alerts", "next_before"],
    {
        "alerts": _array(obj(list(_ALERT_PROPS), _ALERT_PROPS)),
        "next_before": {
            "type": ["integer", "null"],
            "description": "Pass as 'before' for older alerts; null on the last page.",
        },
    },
)

ADMIN_SCHEMAS: Final[dict[str, Any]] = {
    "ModelHealth": _MODEL_HEALTH,
    "ModelHealthList": _MODEL_HEALTH_LIST,
    "EnabledRequest": _ENABLED_REQUEST,
    "Category": _CATEGORY,
    "CategoryCreate": _CATEGORY_CREATE,
    "CategoryUpdate": _CATEGORY_UPDATE,
    "CategoryList": _CATEGORY_LIST,
    "CategoryDeleted": _CATEGORY_DELETED,
    "ProviderList": _PROVIDER_LIST,
    "AuditLog": _AUDIT,
    "AlertList": _ALERTS,
    "BudgetList": _BUDGET_LIST,
    "EvaluationRun": _EVALUATION_RUN,
    "EvaluationResult": _EVALUATION_RESULT,
    "DashboardSummary": _SUMMARY,
}
