"""Reading the fields of OpenAI's chat completion object and chunk object (API reference,
"The chat completion object", "The chat completion chunk object") and of the compatible
servers' additions to them, for :mod:`.openai_compat`.

Each reader takes what may be absent or null as empty and raises ``TypeError`` for a value of
the wrong type: the caller's shape check makes that a ``MalformedResponse`` (a whole answer)
or an unreadable chunk (a stream, see :mod:`.lenient`).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = [
    "REASONING_KEYS",
    "logprobs_json",
    "reasoning_text",
    "string_field",
    "token_counts",
    "usage_details",
]

# Where OpenAI-compatible servers put a reasoning model's reasoning text, beside ``content`` in
# a message (whole) and in a chunk's delta (piece by piece); OpenAI's own API sends none:
# - ``reasoning_content``: DeepSeek's API ("Reasoning Model (deepseek-reasoner)", output
#   fields: "reasoning_content: the content of the CoT, at the same level as content"), and
#   vLLM's "Reasoning Outputs" (``message.reasoning_content``, ``delta.reasoning_content``);
# - ``reasoning``: OpenRouter ("Reasoning Tokens": "reasoning tokens will appear in the
#   reasoning field of each message", ``delta.reasoning`` when streamed) and vLLM since 0.11
#   ("reasoning used to be called reasoning_content"; the old name still works).
REASONING_KEYS: Final = ("reasoning_content", "reasoning")


def string_field(value: Any, field: str) -> str:
    """A string field that may be null or absent ("" then; TypeError when not a string)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(field)
    return value


def reasoning_text(message: dict[str, Any]) -> str:
    """The reasoning text of a ``message`` or a chunk's ``delta`` (:data:`REASONING_KEYS`), ""
    when none. A server that sends both names (vLLM while it renames the field) sends the same
    text twice: the first non-empty one is taken, never both. TypeError when either is there
    and not a string."""
    texts = [string_field(message.get(key), key) for key in REASONING_KEYS]
    return next((text for text in texts if text), "")


def logprobs_json(choice: dict[str, Any]) -> str:
    """A choice's ``logprobs`` object (API reference: ``content`` and ``refusal`` lists of
    token log probabilities) as JSON text, passed on unchanged; "" when null or absent."""
    logprobs = choice.get("logprobs")
    if logprobs is None:
        return ""
    if not isinstance(logprobs, dict):
        raise TypeError("logprobs")
    return orjson.dumps(logprobs).decode()


def token_counts(usage: Any) -> tuple[int, int, int, int]:
    """(prompt, completion, cached, reasoning) tokens of a usage object (ValueError, TypeError
    when malformed)."""
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise TypeError("usage")
    return (max(prompt, 0), max(completion, 0), *usage_details(usage))


def usage_details(usage: Any) -> tuple[int, int]:
    """(cached, reasoning) tokens of a usage object: ``prompt_tokens_details.cached_tokens``
    and ``completion_tokens_details.reasoning_tokens`` (API reference, "The chat completion
    object", ``usage``); an absent or null object or count is 0, another type a TypeError."""
    return (
        _detail(usage, "prompt_tokens_details", "cached_tokens"),
        _detail(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def _detail(usage: Any, details_key: str, count_key: str) -> int:
    details = usage.get(details_key)
    if details is None:
        return 0
    if not isinstance(details, dict):
        raise TypeError(details_key)
    count = details.get(count_key)
    if count is None:
        return 0
    if not isinstance(count, int) or isinstance(count, bool):
        raise TypeError(count_key)
    return max(count, 0)
