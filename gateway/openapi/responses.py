"""JSON Schemas of the OpenAI Responses API front door (``/v1/responses``): what
:mod:`gateway.translate.responses_request` takes, and the ``response`` object and its stream's
events (API reference, "Create a model response", "The response object", "Streaming events")."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.chat_request import CHAT_REQUEST_SCHEMAS, ROUTER_OPTIONS
from gateway.openapi.parts import INTEGER, OPT_STRING, STRING, obj
from gateway.translate.responses_request import REFUSED_FIELDS
from llmrouter import chat_rules

__all__ = ["RESPONSES_SCHEMAS"]

# The chat request's schemas of the fields both doors take with the same rules.
_CHAT: Final = CHAT_REQUEST_SCHEMAS["ChatCompletionRequest"]["properties"]
_NON_EMPTY = {"type": "string", "minLength": 1}
_STATUS = {"enum": ["in_progress", "completed", "incomplete", None]}
_NONE = {"type": "null"}


def _closed(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return obj(required, properties, additionalProperties=False)


def _const(value: str) -> dict[str, Any]:
    return {"type": "string", "const": value}


_INPUT_TEXT = _closed(["type", "text"], {"type": _const("input_text"), "text": STRING})
_INPUT_IMAGE = _closed(
    ["type", "image_url"],
    {
        "type": _const("input_image"),
        "image_url": {**_NON_EMPTY, "description": "A URL or a data: URI."},
        "file_id": {"type": "null", "description": "Files are not available: null only."},
        "detail": {"enum": [*chat_rules.IMAGE_DETAILS, None]},
    },
)
_EMPTY_LIST = {"type": ["array", "null"], "maxItems": 0}
_OUTPUT_TEXT = _closed(
    ["type", "text"],
    {
        "type": _const("output_text"),
        "text": STRING,
        "annotations": _EMPTY_LIST,
        "logprobs": _EMPTY_LIST,
        "parsed": {"description": "The openai package's parsed value: accepted, not forwarded."},
    },
)
_REFUSAL = _closed(["type", "refusal"], {"type": _const("refusal"), "refusal": STRING})


def _message(roles: list[str], parts: list[dict[str, Any]], phase: dict[str, Any]) -> Any:
    content = {"anyOf": [STRING, {"type": "array", "minItems": 1, "items": {"oneOf": parts}}]}
    return _closed(
        ["role", "content"],
        {
            "type": {"enum": ["message", None]},
            "role": {"enum": roles},
            "content": content,
            "id": OPT_STRING,
            "status": _STATUS,
            "phase": phase,
        },
    )


_FUNCTION_CALL = _closed(
    ["type", "call_id", "name", "arguments"],
    {
        "type": _const("function_call"),
        "call_id": _NON_EMPTY,
        "name": _NON_EMPTY,
        "arguments": {**STRING, "description": "JSON text, as the model produced it."},
        "id": OPT_STRING,
        "status": _STATUS,
        "parsed_arguments": {"description": "Accepted, not forwarded."},
    },
)
_FUNCTION_CALL_OUTPUT = _closed(
    ["type", "call_id", "output"],
    {
        "type": _const("function_call_output"),
        "call_id": _NON_EMPTY,
        "output": {"anyOf": [STRING, {"type": "array", "items": _INPUT_TEXT}]},
        "id": OPT_STRING,
        "status": _STATUS,
    },
)
_REASONING = _closed(
    ["type"],
    {
        "type": _const("reasoning"),
        "id": OPT_STRING,
        "summary": {"type": ["array", "null"]},
        "content": {"type": ["array", "null"]},
        "encrypted_content": OPT_STRING,
        "status": _STATUS,
    },
)
_ITEM = {
    "oneOf": [
        _message(["user", "system", "developer"], [_INPUT_TEXT, _INPUT_IMAGE], _NONE),
        _message(
            ["assistant"], [_OUTPUT_TEXT, _REFUSAL], {"enum": ["commentary", "final_answer", None]}
        ),
        _FUNCTION_CALL,
        _FUNCTION_CALL_OUTPUT,
        _REASONING,
    ]
}
_TOOL = _closed(
    ["type", "name"],
    {
        "type": _const("function"),
        "name": _NON_EMPTY,
        "description": OPT_STRING,
        "parameters": {"type": ["object", "null"]},
        "strict": {
            "type": ["boolean", "null"],
            "description": "Left out or null: not strict (the router asks for strict mode only "
            "when told).",
        },
    },
)
_FORMAT = {
    "oneOf": [
        _closed(["type"], {"type": {"enum": ["text", "json_object"]}}),
        _closed(
            ["type", "name", "schema"],
            {
                "type": _const("json_schema"),
                "name": _NON_EMPTY,
                "schema": {"type": "object"},
                "description": OPT_STRING,
                "strict": {"type": ["boolean", "null"]},
            },
        ),
        _NONE,
    ]
}
_PROPERTIES: Final = {
    "model": {**_NON_EMPTY, "description": "A model, alias, category or 'auto'."},
    "input": {
        "anyOf": [
            STRING,
            {
                "type": "array",
                "minItems": 1,
                "items": _ITEM,
                # At least one item that is not a reasoning item (those are not forwarded).
                "contains": {
                    "not": {"required": ["type"], "properties": {"type": _const("reasoning")}}
                },
            },
        ]
    },
    "instructions": {**OPT_STRING, "description": "A system message before the input."},
    "tools": {
        "type": ["array", "null"],
        "items": _TOOL,
        "uniqueItems": True,
        "description": "Function tools only; names are unique (a duplicate is a 400 naming it).",
    },
    "tool_choice": {
        "anyOf": [
            {"enum": ["none", "auto", "required"]},
            _closed(["type", "name"], {"type": _const("function"), "name": _NON_EMPTY}),
            _NONE,
        ],
        "description": "A function must name one of 'tools'; 'required' needs a tool.",
    },
    "max_output_tokens": {
        "type": ["integer", "null"],
        "minimum": chat_rules.MAX_TOKENS.minimum,
        "maximum": chat_rules.MAX_TOKENS.maximum,
    },
    "temperature": _CHAT["temperature"],
    "top_p": _CHAT["top_p"],
    "text": {
        "anyOf": [_closed([], {"format": _FORMAT, "verbosity": _NONE}), _NONE],
        "description": "text.verbosity is refused (null only).",
    },
    "parallel_tool_calls": _CHAT["parallel_tool_calls"],
    "metadata": _CHAT["metadata"],
    "user": _CHAT["user"],
    "stream": _CHAT["stream"],
    "stream_options": {
        "anyOf": [_closed([], {"include_obfuscation": {"type": ["boolean", "null"]}}), _NONE],
        "description": "Only with 'stream': true.",
    },
    "store": {
        "enum": [False, None],
        "description": "Stored responses are not enabled: true is refused (400).",
    },
    "reasoning": {
        "anyOf": [
            _closed(
                [],
                {
                    "effort": {"enum": [*chat_rules.REASONING_EFFORTS, None]},
                    "summary": _NONE,
                    "generate_summary": _NONE,
                },
            ),
            _NONE,
        ],
        "description": "effort only: reasoning summaries are refused.",
    },
    "service_tier": _CHAT["service_tier"],
    "truncation": {"enum": ["disabled", None]},
    "include": {**_EMPTY_LIST, "description": "Nothing to include: only empty or null."},
    "llmrouter": ROUTER_OPTIONS,
    **{
        name: {**_NONE, "description": f"Refused unless null: {reason}."}
        for name, reason in REFUSED_FIELDS.items()
    },
}
_REQUEST = {
    **_closed(["model", "input"], _PROPERTIES),
    "allOf": [
        {  # stream_options needs stream: true
            "if": {
                "required": ["stream_options"],
                "properties": {"stream_options": {"type": "object"}},
            },
            "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
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
_USAGE = obj(
    ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details"],
    {
        "input_tokens": INTEGER,
        "input_tokens_details": obj(["cached_tokens"], {"cached_tokens": INTEGER}),
        "output_tokens": INTEGER,
        "output_tokens_details": obj(["reasoning_tokens"], {"reasoning_tokens": INTEGER}),
        "total_tokens": INTEGER,
    },
)
_RESPONSE = obj(
    ["id", "object", "created_at", "status", "model", "output"],
    {
        "id": STRING,
        "object": _const("response"),
        "created_at": INTEGER,
        "status": {"enum": ["completed", "incomplete", "in_progress", "failed"]},
        "model": STRING,
        "output": {
            "type": "array",
            "items": obj(
                ["type", "id"],
                {"type": {"enum": ["message", "function_call", "reasoning"]}, "id": STRING},
            ),
        },
        "incomplete_details": {"anyOf": [obj(["reason"], {"reason": STRING}), _NONE]},
        "error": {"anyOf": [obj(["code", "message"], {"code": STRING, "message": STRING}), _NONE]},
        "usage": {"anyOf": [_USAGE, _NONE]},
        "store": {"const": False},
    },
)
# One server-sent event: ``event: <type>`` and its JSON, whose ``type`` is the event's name and
# whose ``sequence_number`` counts from 0.
_EVENT_TYPES = (
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "response.content_part.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
    "response.incomplete",
    "response.failed",
)
_EVENT = obj(
    ["event", "data"],
    {
        "event": {"enum": list(_EVENT_TYPES)},
        "data": {
            "type": "string",
            "pattern": "^[{]",
            "contentMediaType": "application/json",
            "contentSchema": obj(
                ["type", "sequence_number"],
                {"type": {"enum": list(_EVENT_TYPES)}, "sequence_number": INTEGER},
            ),
        },
    },
)

RESPONSES_SCHEMAS: Final = {
    "ResponsesRequest": _REQUEST,
    "Response": _RESPONSE,
    "ResponseEvents": _EVENT,
}
