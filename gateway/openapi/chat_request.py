"""JSON Schemas of the OpenAI-shaped chat requests (the answers are in
:mod:`gateway.openapi.chat_response`).

Request schemas say what :mod:`gateway.translate.chat_request` accepts as precisely as JSON
Schema can; what it cannot say (a ``tool_choice`` function must name one of ``tools``, tool
names are unique) is in the descriptions.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.chat_messages import MESSAGE_SCHEMAS
from gateway.openapi.parts import STRING, obj, ref
from llmrouter import chat_rules, field_limits

__all__ = ["CHAT_REQUEST_SCHEMAS", "FALLBACK_FIELDS", "METADATA", "ROUTER_OPTIONS"]

# --- chat requests -------------------------------------------------------------------------------

_RESPONSE_FORMAT = {
    "oneOf": [
        obj(
            ["type"],
            {"type": {"enum": [k for k in chat_rules.RESPONSE_FORMATS if k != "json_schema"]}},
        ),
        obj(
            ["type", "json_schema"],
            {
                "type": {"const": "json_schema"},
                "json_schema": obj(
                    ["name"],
                    {
                        "name": {"type": "string", "minLength": 1},
                        "schema": {"type": ["object", "null"]},
                        "strict": {"type": ["boolean", "null"]},
                    },
                ),
            },
        ),
        {"type": "null"},
    ]
}


def _capped(max_length: int) -> dict[str, Any]:
    """An optional string of at most ``max_length`` characters (llmrouter.field_limits)."""
    return {"type": ["string", "null"], "maxLength": max_length}


def _number(rule: chat_rules.Range) -> dict[str, Any]:
    """An optional number within ``rule`` (llmrouter.chat_rules)."""
    return {"type": ["number", "null"], "minimum": rule.minimum, "maximum": rule.maximum}


def _integer(rule: chat_rules.Range) -> dict[str, Any]:
    """An optional integer within ``rule`` (llmrouter.chat_rules)."""
    return {"type": ["integer", "null"], "minimum": rule.minimum, "maximum": rule.maximum}


_WEIGHT = {"type": ["number", "null"], "minimum": chat_rules.PREFERENCE_WEIGHT.minimum}
ROUTER_OPTIONS = {
    "type": ["object", "null"],
    "description": "llmrouter's own options; unknown keys are rejected.",
    "additionalProperties": False,
    "properties": {
        "category": _capped(field_limits.CATEGORY_MAX_CHARS),
        "task_type": _capped(field_limits.TASK_TYPE_MAX_CHARS),
        "source": _capped(field_limits.SOURCE_MAX_CHARS),
        "cache": {
            "type": ["boolean", "null"],
            "description": (
                "Response cache: true replays an exact earlier answer (same model or category, "
                "messages, tools and sampling parameters, same API key) and stores a new "
                "complete one; false keeps this request out. Unset: the router's "
                "cache.api_keys decide. Overrides the X-LLMRouter-Cache header."
            ),
        },
        "extra_body": {
            "type": ["object", "null"],
            "description": (
                "Provider-specific extras merged into the upstream request body (objects key "
                "by key); a key the router sets for the model's provider kind is refused "
                "(400 naming llmrouter.extra_body.<key>). Its JSON text is at most "
                f"{field_limits.EXTRA_BODY_MAX_CHARS} characters."
            ),
        },
        "preferences": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {key: _WEIGHT for key in chat_rules.PREFERENCE_KEYS},
        },
        "min_quality": {
            "type": ["number", "null"],
            "minimum": chat_rules.MIN_QUALITY.minimum,
            "maximum": chat_rules.MIN_QUALITY.maximum,
            "description": (
                "Quality-bounded routing: the cheapest model of the category's chain whose "
                "estimated quality for this request (learned predictor, else the model's "
                "category estimate) is at least this; none reaching it, the best estimated "
                "first. Not applied to a named model. Unset: the category's min_quality."
            ),
        },
    },
}

_MODEL_NAME = {"type": "string", "minLength": 1, "maxLength": field_limits.MODEL_NAME_MAX_CHARS}
_MODELS = {
    "type": ["array", "null"],
    "maxItems": field_limits.FALLBACK_MODELS_MAX,
    "items": _MODEL_NAME,
    "description": (
        "OpenRouter's model fallbacks: models (names or aliases) tried in order after 'model' "
        "(after the category's chain for 'auto'), replacing the model's configured fallbacks. "
        "Entries equal to 'model' are skipped. Not with 'fallbacks'."
    ),
}
_FALLBACKS = {
    **_MODELS,
    "items": {
        "anyOf": [
            _MODEL_NAME,
            {
                "type": "object",
                "required": ["model"],
                "properties": {"model": _MODEL_NAME},
                "additionalProperties": False,
            },
        ]
    },
    "description": (
        "LiteLLM's client-side fallbacks: as 'models', each a model name or {\"model\": name} "
        "(per-fallback overrides are refused). Not with 'models'."
    ),
}

# The fallbacks of a request body, as the other front doors take them too.
FALLBACK_FIELDS: Final = {"models": _MODELS, "fallbacks": _FALLBACKS}
# Labels stored with the usage.
METADATA: Final = {
    "type": ["object", "null"],
    "description": (
        f"Up to {field_limits.METADATA_MAX_PAIRS} pairs; keys up to "
        f"{field_limits.METADATA_KEY_MAX_CHARS} characters, values up to "
        f"{field_limits.METADATA_VALUE_MAX_CHARS}."
    ),
    "maxProperties": field_limits.METADATA_MAX_PAIRS,
    "propertyNames": {"maxLength": field_limits.METADATA_KEY_MAX_CHARS},
    "additionalProperties": {
        "type": "string",
        "maxLength": field_limits.METADATA_VALUE_MAX_CHARS,
    },
}

# OpenAI's fields the router does not carry: refused (400 naming them) unless null or the
# default that asks for nothing.
_UNSUPPORTED_DEFAULTS: Final = chat_rules.UNSUPPORTED_DEFAULTS
_UNSUPPORTED: Final[dict[str, Any]] = {
    name: {
        "description": "Not supported by this router: refused unless null"
        + (" or the default." if name in _UNSUPPORTED_DEFAULTS else "."),
        "anyOf": [
            {"type": "null"},
            *([{"const": _UNSUPPORTED_DEFAULTS[name]}] if name in _UNSUPPORTED_DEFAULTS else []),
        ],
    }
    for name in chat_rules.UNSUPPORTED_FIELDS
}

_CHAT_REQUEST = {
    "type": "object",
    "description": (
        "OpenAI's chat completion request. An unknown top-level field is refused with a 400 "
        "naming it, as OpenAI does (provider-specific extras go in llmrouter.extra_body); "
        "OpenAI's fields the router does not carry ("
        + ", ".join(chat_rules.UNSUPPORTED_FIELDS)
        + ") are refused with a 400 naming them, except store: false and modalities: "
        "['text']. Tool names must be unique, and a 'tool_choice' function must name one of "
        "'tools'."
    ),
    "additionalProperties": False,
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "description": "A model, alias or 'auto'."},
        "models": _MODELS,
        "fallbacks": _FALLBACKS,
        "messages": {"type": "array", "minItems": 1, "items": ref("Message")},
        "tools": {"type": ["array", "null"], "items": ref("Tool"), "uniqueItems": True},
        "tool_choice": {
            "anyOf": [
                {"enum": ["none", "auto", "required"]},
                obj(
                    ["type", "function"],
                    {
                        "type": {"const": "function"},
                        "function": obj(["name"], {"name": {"type": "string", "minLength": 1}}),
                    },
                ),
                {"type": "null"},
            ]
        },
        "temperature": _number(chat_rules.TEMPERATURE),
        "top_p": _number(chat_rules.TOP_P),
        "max_completion_tokens": _integer(chat_rules.MAX_TOKENS),
        "max_tokens": _integer(chat_rules.MAX_TOKENS),
        "logprobs": {"type": ["boolean", "null"]},
        "top_logprobs": {
            **_integer(chat_rules.TOP_LOGPROBS),
            "description": "Only with 'logprobs': true.",
        },
        "service_tier": {"enum": [*chat_rules.SERVICE_TIERS, None]},
        "reasoning_effort": {"enum": [*chat_rules.REASONING_EFFORTS, None]},
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "seed": _integer(chat_rules.SEED),
        "presence_penalty": _number(chat_rules.PENALTY),
        "frequency_penalty": _number(chat_rules.PENALTY),
        "n": _integer(chat_rules.N),
        "stop": {
            "anyOf": [
                STRING,
                {"type": "array", "maxItems": chat_rules.STOP_MAX_ITEMS, "items": STRING},
                {"type": "null"},
            ]
        },
        "response_format": _RESPONSE_FORMAT,
        "user": _capped(field_limits.USER_MAX_CHARS),
        "metadata": METADATA,
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {
            "type": ["object", "null"],
            "description": "Only with 'stream': true; other keys are refused.",
            "additionalProperties": False,
            "properties": {
                "include_usage": {"type": ["boolean", "null"]},
                "include_obfuscation": {"type": ["boolean", "null"]},
            },
        },
        "llmrouter": ROUTER_OPTIONS,
        **_UNSUPPORTED,
    },
    "allOf": [
        {  # models or fallbacks, not both
            "not": {
                "required": ["models", "fallbacks"],
                "properties": {"models": {"type": "array"}, "fallbacks": {"type": "array"}},
            }
        },
        {  # stream_options needs stream: true
            "if": {
                "required": ["stream_options"],
                "properties": {"stream_options": {"type": "object"}},
            },
            "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
        },
        {  # top_logprobs needs logprobs: true
            "if": {
                "required": ["top_logprobs"],
                "properties": {"top_logprobs": {"type": "integer"}},
            },
            "then": {"required": ["logprobs"], "properties": {"logprobs": {"const": True}}},
        },
        {  # a tool_choice other than none/auto needs tools
            "if": {
                "required": ["tool_choice"],
                "properties": {
                    "tool_choice": {"anyOf": [{"const": "required"}, {"type": "object"}]}
                },
            },
            "then": {
                "required": ["tools"],
                "properties": {"tools": {"type": "array", "minItems": 1}},
            },
        },
    ],
}


CHAT_REQUEST_SCHEMAS: Final[dict[str, Any]] = {
    "ChatCompletionRequest": _CHAT_REQUEST,
    **MESSAGE_SCHEMAS,
}
