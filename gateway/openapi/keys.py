"""JSON Schemas of the virtual keys and teams (``/v1/admin/keys``, ``/v1/admin/teams``).

The shapes of :mod:`gateway.translate.api_keys`; the router holds the rules a schema cannot
say (models and categories it knows, a team that exists, soft not above hard) and answers 400
with ``param`` naming the field.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.parts import OPT_STRING, STRING, TIME, obj, ref
from gateway.translate.api_keys import MAX_ROLLING_S

__all__ = ["KEY_SCHEMAS"]

_OPT_LIMIT: Final = {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1}
_STRINGS: Final = {"type": "array", "items": STRING, "maxItems": 64}
_BUDGET_PROPS: Final = {
    "period": {
        "enum": ["day", "week", "month", "rolling"],
        "description": "Calendar day, week (from Monday) or month in UTC, or a rolling window.",
    },
    "rolling_seconds": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_ROLLING_S,
        "description": "The rolling window's length (rolling only).",
    },
    "soft_usd": {"type": ["number", "null"], "minimum": 0, "description": "Alert here."},
    "hard_usd": {"type": ["number", "null"], "minimum": 0, "description": "Refuse here."},
}
_BUDGET: Final = {
    "type": "object",
    "required": ["period"],
    "properties": _BUDGET_PROPS,
    "additionalProperties": False,
}
_BUDGETS: Final = {"type": "array", "items": ref("Budget"), "maxItems": 8}
_KEY_FIELDS: Final = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "team_id": {**OPT_STRING, "description": "A team's id; null for none."},
    "role": {"enum": ["user", "admin"], "description": "admin may call /v1/admin routes."},
    "allowed_models": {**_STRINGS, "description": "Models the key may use (empty: all)."},
    "allowed_categories": {
        **_STRINGS,
        "description": "Categories whose chains the key may use, and where its auto requests "
        "may go.",
    },
    "rpm_limit": {**_OPT_LIMIT, "description": "Requests per minute (null: the default)."},
    "tpm_limit": {**_OPT_LIMIT, "description": "Tokens per minute (null: the default)."},
    "budgets": _BUDGETS,
    "expire_time": {**TIME, "description": "When the key stops working (null: never)."},
}
_KEY_PROPS: Final = {
    "id": STRING,
    **_KEY_FIELDS,
    "budgets": {"type": "array", "items": obj(list(_BUDGET_PROPS), _BUDGET_PROPS)},
    "create_time": TIME,
    "revoke_time": TIME,
    "rotate_time": TIME,
    "previous_secret_expire_time": {
        **TIME,
        "description": "Until when the secret before the last rotation works.",
    },
}
_KEY: Final = obj(list(_KEY_PROPS), _KEY_PROPS)
_WITH_SECRET: Final = {
    "allOf": [
        ref("ApiKey"),
        obj(
            ["secret"],
            {
                "secret": {
                    "type": "string",
                    "description": "sk-llmr-...: shown this once, stored only as a SHA-256.",
                }
            },
        ),
    ]
}
_TEAM_PROPS: Final = {
    "id": STRING,
    "name": STRING,
    "budgets": _KEY_PROPS["budgets"],
    "create_time": TIME,
}

KEY_SCHEMAS: Final[dict[str, Any]] = {
    "Budget": _BUDGET,
    "ApiKey": _KEY,
    "ApiKeyWithSecret": _WITH_SECRET,
    "ApiKeyList": obj(["keys"], {"keys": {"type": "array", "items": ref("ApiKey")}}),
    "ApiKeyCreate": {
        "type": "object",
        "required": ["name"],
        "properties": _KEY_FIELDS,
        "additionalProperties": False,
    },
    "ApiKeyUpdate": {
        "type": "object",
        "minProperties": 1,
        "properties": _KEY_FIELDS,
        "additionalProperties": False,
    },
    "ApiKeyRotate": {
        "type": "object",
        "properties": {
            "overlap_seconds": {
                "type": "number",
                "minimum": 0,
                "maximum": 30 * 86400,
                "description": "How long the current secret keeps working (default 3600).",
            }
        },
        "additionalProperties": False,
    },
    "Team": obj(list(_TEAM_PROPS), _TEAM_PROPS),
    "TeamList": obj(["teams"], {"teams": {"type": "array", "items": ref("Team")}}),
    "TeamCreate": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": _KEY_FIELDS["name"], "budgets": _BUDGETS},
        "additionalProperties": False,
    },
    "TeamUpdate": {
        "type": "object",
        "minProperties": 1,
        "properties": {"name": _KEY_FIELDS["name"], "budgets": _BUDGETS},
        "additionalProperties": False,
    },
}
