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
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CATEGORY_MAX_CHARS",
    "EXTRA_BODY_MAX_CHARS",
    "FALLBACK_MODELS_MAX",
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
