"""JSON Schemas of the embeddings front door (``/v1/embeddings``): what
:mod:`gateway.translate.embeddings` takes and answers (OpenAI API reference, "Embeddings")."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.chat_request import FALLBACK_FIELDS, METADATA, ROUTER_OPTIONS
from gateway.openapi.parts import INTEGER, STRING, obj
from llmrouter import field_limits

__all__ = ["EMBEDDINGS_SCHEMAS"]

_TEXT = {"type": "string", "minLength": 1}
_OPTIONS: dict[str, Any] = ROUTER_OPTIONS["properties"]  # type: ignore[assignment]
# Chat's llmrouter object without what has no meaning for embeddings (cache, extra_body,
# preferences).
_ROUTER_OPTIONS = {
    **ROUTER_OPTIONS,
    "properties": {key: _OPTIONS[key] for key in ("category", "task_type", "source")},
}
_REQUEST = {
    "type": "object",
    "required": ["model", "input"],
    "additionalProperties": False,
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "An embedding model (or alias), a category of embedding models, or "
            "'auto' (the category 'embeddings', else every embedding model in config order).",
        },
        "input": {
            "anyOf": [_TEXT, {"type": "array", "minItems": 1, "items": _TEXT}],
            "description": "The text, or texts, to embed; arrays of token ids are refused. "
            "Inputs beyond a model's max_inputs_per_request are sent in several upstream calls.",
        },
        "dimensions": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1},
        "encoding_format": {
            "enum": ["float", "base64", None],
            "description": "float (the default): arrays of numbers; base64: each vector's "
            "little-endian float32 bytes, as the openai SDK asks by default.",
        },
        "user": {"type": ["string", "null"], "maxLength": field_limits.USER_MAX_CHARS},
        "metadata": METADATA,
        **FALLBACK_FIELDS,
        "llmrouter": _ROUTER_OPTIONS,
    },
    "not": {
        "required": ["models", "fallbacks"],
        "properties": {"models": {"type": "array"}, "fallbacks": {"type": "array"}},
    },
}
_EMBEDDING = obj(
    ["object", "index", "embedding"],
    {
        "object": {"const": "embedding"},
        "index": INTEGER,
        "embedding": {"anyOf": [{"type": "array", "items": {"type": "number"}}, STRING]},
    },
)
_LIST = obj(
    ["object", "data", "model", "usage"],
    {
        "object": {"const": "list"},
        "data": {"type": "array", "items": _EMBEDDING},
        "model": STRING,
        "usage": obj(
            ["prompt_tokens", "total_tokens"], {"prompt_tokens": INTEGER, "total_tokens": INTEGER}
        ),
    },
)

EMBEDDINGS_SCHEMAS: Final[dict[str, Any]] = {
    "EmbeddingsRequest": _REQUEST,
    "EmbeddingList": _LIST,
}
