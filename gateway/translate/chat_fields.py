"""The top-level fields a chat request may have; any other is refused naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.errors import InvalidRequest
from llmrouter import chat_rules

__all__ = ["CHAT_FIELDS", "check_fields"]

# The top-level fields of a chat request: OpenAI's (those the router carries and those it
# refuses by name), the fallback lists and our own llmrouter object. Any other is refused with a
# 400 naming it, as OpenAI answers "Unrecognized request argument supplied" (the openai SDK's
# extra_body lands here, so the message points at llmrouter.extra_body).
CHAT_FIELDS: Final = frozenset(
    (
        "model",
        "messages",
        "models",
        "fallbacks",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "logprobs",
        "top_logprobs",
        "service_tier",
        "reasoning_effort",
        "parallel_tool_calls",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "stop",
        "response_format",
        "user",
        "metadata",
        "stream",
        "stream_options",
        "llmrouter",
        *chat_rules.UNSUPPORTED_FIELDS,
    )
)


def check_fields(obj: Mapping[str, Any]) -> None:
    """Raise InvalidRequest naming the first key of body ``obj`` not in :data:`CHAT_FIELDS`."""
    for key in obj:
        if key not in CHAT_FIELDS:
            raise InvalidRequest(
                f"Unrecognized request argument supplied: '{key}'. Provider-specific extras go "
                "in 'llmrouter.extra_body' (openai SDK: extra_body={\"llmrouter\": "
                '{"extra_body": {...}}}).',
                key,
            )
