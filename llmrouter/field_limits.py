"""Caps on the free-text fields a client sends that end up in the usage ledger.

The gateway checks them on the JSON body (400 naming the field) and the router checks them
again on ``ChatRequest`` (INVALID_ARGUMENT naming the field), since internal services call it
directly. Lengths are counted in characters (code points), as OpenAI counts them.

``metadata`` follows OpenAI's published limits (chat completions ``metadata``: "Set of 16
key-value pairs ... Keys are strings with a maximum length of 64 characters. Values are strings
with a maximum length of 512 characters."). OpenAI publishes no cap on ``user``; 256 leaves
room for any hashed or prefixed end-user id. The others are llmrouter's own fields.

A request's fallback models (OpenRouter's ``models``, LiteLLM's ``fallbacks``) are capped too:
each one can cost a full set of attempts within the request's deadline, and each name is
quoted back in errors. OpenRouter first documented "up to 3" in ``models``; LiteLLM sets no cap.

Token counts are bounded too (:data:`MAX_TOKEN_COUNT`): an upstream's usage counts are read by
the router (a count above it is no count: the usage is malformed) and stored by the metrics
service (a record with one above it is INVALID_ARGUMENT naming the field).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CATEGORY_MAX_CHARS",
    "EXTRA_BODY_MAX_CHARS",
    "FALLBACK_MODELS_MAX",
    "FRONT_DOOR_MAX_CHARS",
    "MAX_TOKEN_COUNT",
    "METADATA_KEY_MAX_CHARS",
    "METADATA_MAX_PAIRS",
    "METADATA_VALUE_MAX_CHARS",
    "MODEL_NAME_MAX_CHARS",
    "SOURCE_MAX_CHARS",
    "TASK_TYPE_MAX_CHARS",
    "USER_MAX_CHARS",
]

# Provider-specific extras (llmrouter.extra_body), as JSON text: bounded like every field.
EXTRA_BODY_MAX_CHARS: Final = 16384
# OpenAI's metadata limits.
METADATA_MAX_PAIRS: Final = 16
METADATA_KEY_MAX_CHARS: Final = 64
METADATA_VALUE_MAX_CHARS: Final = 512
# OpenAI's end-user id (``user``).
USER_MAX_CHARS: Final = 256
# The caller's tag (``llmrouter.source`` or the X-LLMRouter-Source header).
SOURCE_MAX_CHARS: Final = 128
# A pinned category: category names are at most 64 characters (the router's admin rule).
CATEGORY_MAX_CHARS: Final = 64
# The caller's task type hint.
TASK_TYPE_MAX_CHARS: Final = 64
# Fallback models one request may name, and the length of each name.
FALLBACK_MODELS_MAX: Final = 8
MODEL_NAME_MAX_CHARS: Final = 256
# The gateway front door a request came through ("chat_completions", "messages", ...).
FRONT_DOOR_MAX_CHARS: Final = 32

# The largest token count one upstream call may report, and one usage record may hold per count
# (total_tokens: twice it). 10^12 is far above any real call (the largest context windows hold a
# few million tokens), exact as a double (below 2^53: JSON readers, cost arithmetic), and far
# below where the ledger's sums overflow a 64-bit integer (9.2 million rows at the bound). The
# protobuf fields are int64: a count of 2^63 or more cannot even be built into a record.
MAX_TOKEN_COUNT: Final = 10**12

# Tool parameter schemas and response JSON schemas nested deeper than this are refused (by the
# gateway, naming the client's field, and by the router): providers embed them in JSON bodies
# whose encoders stop at 255 levels.
JSON_MAX_DEPTH: Final = 64


def json_depth(value: object) -> int:
    """Nesting depth of a decoded JSON value: 1 for a scalar or an empty container (iterative,
    so no recursion limit is hit however deep it is)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest
