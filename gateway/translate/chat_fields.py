"""The fields a chat request may have, at the top level and inside its messages, content parts,
tools, tool calls and stream options; any other is refused naming its path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.errors import InvalidRequest
from llmrouter import chat_rules

__all__ = [
    "CACHE_CONTROL_KEYS",
    "CHAT_FIELDS",
    "ECHOED_CALL_KEYS",
    "ECHOED_FUNCTION_KEYS",
    "ECHOED_MESSAGE_KEYS",
    "FUNCTION_KEYS",
    "IMAGE_URL_KEYS",
    "MESSAGE_KEYS",
    "PART_KEYS",
    "STREAM_OPTIONS_KEYS",
    "TOOL_CALL_FUNCTION_KEYS",
    "TOOL_CALL_KEYS",
    "TOOL_KEYS",
    "check_fields",
    "check_keys",
]

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


# Inside the request, OpenAI's request schema ("Create chat completion") is closed: a key it
# does not define is refused naming its path (``messages[2].foo``), never dropped in silence.
# Beside OpenAI's keys: ``cache_control`` (prompt caching, as Anthropic defines it and OpenRouter
# and LiteLLM take it on OpenAI-shaped requests) on messages, content parts and tools.
CACHE_CONTROL_KEYS: Final = frozenset(("type", "ttl"))
# A message's keys, for any role; which role may set which is checked where each is read.
MESSAGE_KEYS: Final = frozenset(
    (
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "refusal",
        "audio",
        "function_call",
        "cache_control",
    )
)
# Keys an assistant message gets from our answers or from the openai package, which clients
# send back unchanged with the message in the next request (the SDK serialises the message it
# was given, ``exclude_unset``: our ``reasoning_content``; OpenAI's ``annotations``, ``audio``,
# ``function_call`` as null; its stream and parse helpers' ``parsed``). Accepted on assistant
# messages and not forwarded.
ECHOED_MESSAGE_KEYS: Final = frozenset(("reasoning_content", "annotations", "parsed"))
PART_KEYS: Final[dict[str, frozenset[str]]] = {
    "text": frozenset(("type", "text", "cache_control")),
    "image_url": frozenset(("type", "image_url", "cache_control")),
    "refusal": frozenset(("type", "refusal", "cache_control")),
}
IMAGE_URL_KEYS: Final = frozenset(("url", "detail"))
TOOL_KEYS: Final = frozenset(("type", "function", "cache_control"))
FUNCTION_KEYS: Final = frozenset(("name", "description", "parameters", "strict"))
TOOL_CALL_KEYS: Final = frozenset(("id", "type", "function"))
TOOL_CALL_FUNCTION_KEYS: Final = frozenset(("name", "arguments"))
# A streamed call's ``index`` (kept by clients that join the chunks, the openai package's
# stream helper among them) and that helper's ``parsed_arguments``: accepted, not forwarded.
ECHOED_CALL_KEYS: Final = frozenset(("index",))
ECHOED_FUNCTION_KEYS: Final = frozenset(("parsed_arguments",))
STREAM_OPTIONS_KEYS: Final = frozenset(("include_usage", "include_obfuscation"))


def check_keys(obj: Mapping[str, Any], allowed: frozenset[str], param: str) -> None:
    """Raise InvalidRequest naming ``<param>.<key>`` for the first key of ``obj`` (the object at
    ``param`` in the body) not in ``allowed``."""
    if allowed.issuperset(obj):  # the common case, without a loop in Python
        return
    key = next(key for key in obj if key not in allowed)
    path = f"{param}.{key}"
    raise InvalidRequest(f"Unrecognized parameter: '{path}'.", path)
