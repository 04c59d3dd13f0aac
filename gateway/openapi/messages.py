"""JSON Schemas of the Anthropic Messages API front door (``/v1/messages``,
``/v1/messages/count_tokens``): what :mod:`gateway.translate.messages_request` takes, and the
``message``, its stream's events and Anthropic's error body (API reference, "Messages")."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.chat_request import ROUTER_OPTIONS
from gateway.openapi.parts import INTEGER, STRING, obj, ref
from llmrouter import chat_rules, field_limits

__all__ = ["MESSAGES_SCHEMAS"]


def _closed(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return obj(required, properties, additionalProperties=False)


def _const(value: str) -> dict[str, Any]:
    return {"type": "string", "const": value}


_NULLABLE_CACHE = {"anyOf": [ref("AnthropicCacheControl"), {"type": "null"}]}
_CACHE = _closed(
    ["type"],
    {
        "type": {"enum": list(chat_rules.CACHE_CONTROL_TYPES)},
        "ttl": {"enum": [*chat_rules.CACHE_TTLS, None]},
    },
)
_TEXT = _closed(
    ["type", "text"],
    {
        "type": _const("text"),
        "text": STRING,
        "cache_control": _NULLABLE_CACHE,
        "citations": {"type": ["array", "null"], "maxItems": 0},
    },
)
_IMAGE = _closed(
    ["type", "source"],
    {
        "type": _const("image"),
        "source": {
            "oneOf": [
                _closed(
                    ["type", "media_type", "data"],
                    {
                        "type": _const("base64"),
                        "media_type": {
                            "enum": ["image/jpeg", "image/png", "image/gif", "image/webp"]
                        },
                        "data": {"type": "string", "minLength": 1},
                    },
                ),
                _closed(
                    ["type", "url"],
                    {"type": _const("url"), "url": {"type": "string", "minLength": 1}},
                ),
            ]
        },
        "cache_control": _NULLABLE_CACHE,
    },
)
_TOOL_USE = _closed(
    ["type", "id", "name", "input"],
    {
        "type": _const("tool_use"),
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "input": {"type": "object"},
        "cache_control": _NULLABLE_CACHE,
    },
)
_TOOL_RESULT = _closed(
    ["type", "tool_use_id"],
    {
        "type": _const("tool_result"),
        "tool_use_id": {"type": "string", "minLength": 1},
        "content": {"anyOf": [STRING, {"type": "array", "items": _TEXT}, {"type": "null"}]},
        "is_error": {"type": ["boolean", "null"]},
        "cache_control": _NULLABLE_CACHE,
    },
)
_THINKING = _closed(
    ["type", "thinking"],
    {"type": _const("thinking"), "thinking": STRING, "signature": STRING},
)
_REDACTED = _closed(["type", "data"], {"type": _const("redacted_thinking"), "data": STRING})


def _turn(role: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    content = {"anyOf": [STRING, {"type": "array", "minItems": 1, "items": {"oneOf": blocks}}]}
    return _closed(["role", "content"], {"role": _const(role), "content": content})


_TOOL = _closed(
    ["name", "input_schema"],
    {
        "type": {"enum": ["custom", None]},
        "name": {"type": "string", "minLength": 1},
        "description": {"type": ["string", "null"]},
        "input_schema": {"type": "object"},
        "cache_control": _NULLABLE_CACHE,
    },
)
_TOOL_CHOICE = {
    "oneOf": [
        _closed(
            ["type"],
            {
                "type": {"enum": ["auto", "any"]},
                "disable_parallel_tool_use": {"type": ["boolean", "null"]},
            },
        ),
        _closed(
            ["type", "name"],
            {
                "type": _const("tool"),
                "name": {"type": "string", "minLength": 1},
                "disable_parallel_tool_use": {"type": ["boolean", "null"]},
            },
        ),
        _closed(["type"], {"type": _const("none")}),
    ]
}
_PROPERTIES: Final = {
    "model": {"type": "string", "minLength": 1},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": chat_rules.MAX_TOKENS.maximum},
    "system": {"anyOf": [STRING, {"type": "array", "items": _TEXT}, {"type": "null"}]},
    "messages": {
        "type": "array",
        "minItems": 1,
        "items": {
            "oneOf": [
                _turn("user", [_TEXT, _IMAGE, _TOOL_RESULT]),
                _turn("assistant", [_TEXT, _TOOL_USE, _THINKING, _REDACTED]),
            ]
        },
    },
    "metadata": {
        "anyOf": [
            _closed(
                [],
                {
                    "user_id": {
                        "type": ["string", "null"],
                        "maxLength": field_limits.USER_MAX_CHARS,
                    }
                },
            ),
            {"type": "null"},
        ]
    },
    "stop_sequences": {"type": ["array", "null"], "items": STRING},
    "stream": {"type": ["boolean", "null"]},
    "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "tools": {
        "type": ["array", "null"],
        "items": _TOOL,
        "description": "Custom tools; names are unique (a duplicate is a 400 naming it).",
    },
    "tool_choice": {
        "anyOf": [_TOOL_CHOICE, {"type": "null"}],
        "description": "'tool' names one of 'tools'; 'any' needs at least one tool.",
    },
    "thinking": {
        "anyOf": [_closed(["type"], {"type": _const("disabled")}), {"type": "null"}],
        "description": "Only 'disabled': a thinking budget ('enabled') is refused (400).",
    },
    "service_tier": {"enum": ["auto", "standard_only", None]},
    "llmrouter": ROUTER_OPTIONS,
}
_REQUEST = _closed(["model", "max_tokens", "messages"], _PROPERTIES)
_COUNT_REQUEST = _closed(
    ["model", "messages"], {k: v for k, v in _PROPERTIES.items() if k != "stream"}
)
_USAGE = obj(
    ["input_tokens", "output_tokens"],
    {
        "input_tokens": INTEGER,
        "output_tokens": INTEGER,
        "cache_creation_input_tokens": INTEGER,
        "cache_read_input_tokens": INTEGER,
    },
)
_STOP_REASON = {"enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", None]}
_MESSAGE = obj(
    ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"],
    {
        "id": STRING,
        "type": _const("message"),
        "role": _const("assistant"),
        "model": STRING,
        "content": {
            "type": "array",
            "items": obj(["type"], {"type": {"enum": ["text", "tool_use", "thinking"]}}),
        },
        "stop_reason": _STOP_REASON,
        "stop_sequence": {"type": ["string", "null"]},
        "usage": _USAGE,
    },
)
_ERROR = obj(
    ["type", "error"],
    {
        "type": _const("error"),
        "error": obj(["type", "message"], {"type": STRING, "message": STRING}),
        "request_id": STRING,
    },
)
# One server-sent event: ``event: <type>`` and its JSON, whose ``type`` is the event's name:
# message_start, content_block_start, ping, content_block_delta (text_delta, input_json_delta,
# thinking_delta), content_block_stop, message_delta, message_stop; or an ``error`` (Anthropic's
# error body), which ends the stream.
_EVENT_TYPES = (
    "message_start",
    "content_block_start",
    "ping",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
)
_EVENT = obj(
    ["event", "data"],
    {
        "event": {"enum": list(_EVENT_TYPES)},
        "data": {
            "type": "string",
            "pattern": "^[{]",
            "contentMediaType": "application/json",
            "contentSchema": obj(["type"], {"type": {"enum": list(_EVENT_TYPES)}}),
        },
    },
)

MESSAGES_SCHEMAS: Final = {
    "AnthropicCacheControl": _CACHE,
    "MessagesRequest": _REQUEST,
    "CountTokensRequest": _COUNT_REQUEST,
    "AnthropicMessage": _MESSAGE,
    "AnthropicMessageEvents": _EVENT,
    "AnthropicError": _ERROR,
    "TokenCount": obj(["input_tokens"], {"input_tokens": INTEGER}),
}
