"""JSON Schemas of a chat request's messages, content parts, tool calls and tools (the request
itself is in :mod:`gateway.openapi.chat_request`).

Every object is closed, as :mod:`gateway.translate.chat_messages` reads it: a key not listed
is refused with a 400 naming its path; a test holds these lists to the gateway's
(:mod:`gateway.translate.chat_fields`).
"""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.parts import OPT_STRING, STRING, obj, ref
from llmrouter import chat_rules

__all__ = ["MESSAGE_SCHEMAS"]

_CACHE_CONTROL = {
    "type": ["object", "null"],
    "description": (
        "A prompt-caching breakpoint (Anthropic's prompt caching; OpenRouter and LiteLLM take "
        "it on OpenAI-shaped requests): put on the marked block for Anthropic models (a "
        "message's on its last block), passed as given to OpenAI-compatible models, refused "
        "for Ollama models (400 naming it when no model of the chain can take it)."
    ),
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": list(chat_rules.CACHE_CONTROL_TYPES)},
        "ttl": {"enum": [*chat_rules.CACHE_TTLS, None]},
    },
}
# Each object of a request is closed: a key not listed is refused (400 naming its path).
_CLOSED: Final = {"additionalProperties": False}
_TEXT_PART = obj(
    ["type", "text"],
    {"type": {"const": "text"}, "text": STRING, "cache_control": ref("CacheControl")},
    **_CLOSED,
)
_IMAGE_PART = obj(
    ["type", "image_url"],
    {
        "type": {"const": "image_url"},
        "image_url": obj(
            ["url"],
            {
                "url": {"type": "string", "minLength": 1},
                "detail": {
                    "enum": [*chat_rules.IMAGE_DETAILS, None],
                    "description": (
                        "Passed to OpenAI-compatible models; Anthropic and Ollama models take "
                        "only 'auto' (others: 400 naming it when no model of the chain can)."
                    ),
                },
            },
            **_CLOSED,
        ),
        "cache_control": ref("CacheControl"),
    },
    **_CLOSED,
)
_REFUSAL_PART = obj(
    ["type", "refusal"],
    {"type": {"const": "refusal"}, "refusal": STRING, "cache_control": ref("CacheControl")},
    **_CLOSED,
)


def _content(*parts: dict[str, Any]) -> dict[str, Any]:
    items = parts[0] if len(parts) == 1 else {"oneOf": list(parts)}
    return {"anyOf": [STRING, {"type": "array", "minItems": 1, "items": items}]}


_NULL: Final = {"type": "null"}
# Keys of OpenAI's message schema the router does not carry: null only.
_UNSUPPORTED_KEYS: Final = {
    "audio": {**_NULL, "description": "Not supported by this router: refused unless null."},
    "function_call": {**_NULL, "description": "Not supported: refused unless null."},
}
# What an assistant message comes back with from our answers and the openai package (its
# stream and parse helpers): accepted, not forwarded.
_ECHOED: Final = {
    "reasoning_content": {
        **OPT_STRING,
        "description": "Our answers' reasoning text, sent back: accepted, not forwarded.",
    },
    "annotations": {
        "type": ["array", "null"],
        "description": "Sent back from an answer: accepted, not forwarded.",
    },
    "parsed": {"description": "The openai package's parse helpers: accepted, not forwarded."},
}


def _message(role: Any, content: Any, required: list[str], **keys: Any) -> dict[str, Any]:
    """A message of ``role``: the keys every role has, ``keys``, and null for the rest."""
    properties: dict[str, Any] = {
        "role": role,
        "content": content,
        "name": OPT_STRING,
        "tool_calls": _NULL,
        "refusal": _NULL,
        "tool_call_id": _NULL,
        **{key: _NULL for key in _ECHOED},
        **_UNSUPPORTED_KEYS,
        "cache_control": ref("CacheControl"),
    }
    properties.update(keys)
    return obj(required, properties, **_CLOSED)


_MESSAGE = {
    "description": (
        "One chat message; the keys allowed depend on 'role', and any other key is refused "
        "(400 naming it, e.g. messages[2].foo)."
    ),
    "oneOf": [
        _message({"enum": ["system", "developer"]}, _content(_TEXT_PART), ["role", "content"]),
        _message({"const": "user"}, _content(_TEXT_PART, _IMAGE_PART), ["role", "content"]),
        {
            **_message(
                {"const": "assistant"},
                {"anyOf": [_content(_TEXT_PART, _REFUSAL_PART), _NULL]},
                ["role"],
                tool_calls={"type": ["array", "null"], "items": ref("ToolCall")},
                refusal=OPT_STRING,
                **_ECHOED,
            ),
            "description": "Content may be null only when the message has tool calls or a refusal.",
            "anyOf": [
                {"required": ["content"], "properties": {"content": {"type": ["string", "array"]}}},
                {
                    "required": ["refusal"],
                    "properties": {"refusal": {"type": "string", "minLength": 1}},
                },
                {
                    "required": ["tool_calls"],
                    "properties": {"tool_calls": {"type": "array", "minItems": 1}},
                },
            ],
        },
        _message(
            {"const": "tool"},
            _content(_TEXT_PART),
            ["role", "content", "tool_call_id"],
            tool_call_id={"type": "string", "minLength": 1},
        ),
    ],
}

_TOOL_CALL = obj(
    ["id", "type", "function"],
    {
        "id": {"type": "string", "minLength": 1},
        "type": {"const": "function"},
        "function": obj(
            ["name", "arguments"],
            {
                "name": {"type": "string", "minLength": 1},
                "arguments": STRING,
                "parsed_arguments": {
                    "description": "The openai package's stream helper: accepted, not forwarded."
                },
            },
            **_CLOSED,
        ),
        "index": {
            "description": "A streamed call's index, kept by clients: accepted, not forwarded."
        },
    },
    **_CLOSED,
)

_TOOL = obj(
    ["type", "function"],
    {
        "type": {"const": "function"},
        "function": obj(
            ["name"],
            {
                "name": {"type": "string", "minLength": 1},
                "description": OPT_STRING,
                "parameters": {"type": ["object", "null"]},
                "strict": {"type": ["boolean", "null"]},
            },
            **_CLOSED,
        ),
        "cache_control": ref("CacheControl"),
    },
    **_CLOSED,
)


MESSAGE_SCHEMAS: Final[dict[str, Any]] = {
    "Message": _MESSAGE,
    "ToolCall": _TOOL_CALL,
    "Tool": _TOOL,
    "CacheControl": _CACHE_CONTROL,
}
