"""Reading the fields of OpenAI's chat completion object and chunk object (API reference,
"The chat completion object", "The chat completion chunk object") and of the compatible
servers' additions to them, for :mod:`.openai_compat`.

Each reader takes what may be absent or null as empty and raises ``TypeError`` for a value of
the wrong type: the caller's shape check makes that a ``MalformedResponse`` (a whole answer)
or an unreadable chunk (a stream, see :mod:`.lenient`). Token counts are read apart
(:func:`usage_counts`, by the rule of :mod:`.counts`): one unreadable count leaves the others
readable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from ..chat import TokenUsage
from .counts import Counts

__all__ = [
    "REASONING_KEYS",
    "USAGE_COUNTS",
    "logprobs_json",
    "reasoning_text",
    "settled_usage",
    "string_field",
    "usage_counts",
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


# Where each count of a usage object is (API reference, "The chat completion object",
# ``usage``): ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens`` and
# ``completion_tokens`` includes ``completion_tokens_details.reasoning_tokens``.
_DETAILS = (
    ("prompt_tokens_details", "cached_tokens"),
    ("completion_tokens_details", "reasoning_tokens"),
)
USAGE_COUNTS: Final = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")


def usage_counts(usage: Any) -> Counts:
    """The counts of a ``usage`` object, named as in :data:`USAGE_COUNTS`, read by the rule of
    :mod:`.counts`: an absent or null count or details object reports nothing; a count that is
    not one, a details object that is not an object, or a usage that is not an object (all of
    its counts then) is unreadable. Never raises."""
    counts = Counts()
    if not isinstance(usage, dict):
        counts.unreadable.update(USAGE_COUNTS)
        return counts
    counts.read("prompt_tokens", usage.get("prompt_tokens"))
    counts.read("completion_tokens", usage.get("completion_tokens"))
    for details_key, name in _DETAILS:
        details = usage.get(details_key)
        if details is None:
            continue
        if isinstance(details, dict):
            counts.read(name, details.get(name))
        else:
            counts.unreadable.add(name)
    return counts


def settled_usage(
    counts: Counts,
    *,
    prompt: Callable[[], int] | None = None,
    completion: Callable[[], int] | None = None,
    reasoning: Callable[[], int] | None = None,
) -> TokenUsage:
    """The usage to bill from ``counts`` (:meth:`.counts.Counts.settled`): each count the
    upstream's where it reported one readably, else the estimate given for it (none given:
    what it reported, 0 when nothing), the usage marked estimated where one is the router's.
    The reasoning is estimated only where the completion is or its own count was unreadable:
    a server that reports the completion but no details object reports no reasoning."""
    prompt_tokens, prompt_guessed = counts.settled("prompt_tokens", prompt)
    completion_tokens, completion_guessed = counts.settled("completion_tokens", completion)
    cached, cached_guessed = counts.settled("cached_tokens")
    if not (completion_guessed or "reasoning_tokens" in counts.unreadable):
        reasoning = None
    reasoning_tokens, reasoning_guessed = counts.settled("reasoning_tokens", reasoning)
    if reasoning_guessed:
        reasoning_tokens = min(reasoning_tokens, completion_tokens)
    return TokenUsage(
        prompt_tokens,
        completion_tokens,
        cache_read_tokens=cached,
        reasoning_tokens=reasoning_tokens,
        estimated=prompt_guessed or completion_guessed or cached_guessed or reasoning_guessed,
    )
