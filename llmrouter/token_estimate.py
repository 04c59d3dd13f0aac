"""The one rule for estimating tokens without a tokenizer, shared by the router (context
windows, model quotas, usage an upstream did not report) and the gateway (per-key token
limits): about four characters per token for English text and code, plus a few tokens of
framing per message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_COMPLETION_TOKENS",
    "IMAGE_CHARS",
    "PER_MESSAGE",
    "estimate_prompt",
    "prompt_tokens",
    "tokens_of_chars",
]

# Characters per token of English text and code (OpenAI's rule of thumb).
CHARS_PER_TOKEN = 4
# Tokens of framing (role, separators) per message.
PER_MESSAGE = 4
# Characters an image counts as: a rough, fixed share of a prompt.
IMAGE_CHARS = 1000
# Completion tokens assumed when a request sets no max_tokens.
DEFAULT_COMPLETION_TOKENS = 256


def tokens_of_chars(chars: int) -> int:
    """The tokens of ``chars`` characters: one per four, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def prompt_tokens(chars: int, messages: int) -> int:
    """The tokens of a prompt of ``chars`` characters in ``messages`` messages."""
    return tokens_of_chars(chars) + PER_MESSAGE * messages


class _Part(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def image_url(self) -> str: ...


class _Call(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def arguments(self) -> str: ...


class _Message(Protocol):
    @property
    def content(self) -> str: ...
    @property
    def tool_calls(self) -> Iterable[_Call]: ...


class _Tool(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def parameters_json(self) -> str: ...


M = TypeVar("M", bound=_Message)


def estimate_prompt(
    messages: Sequence[M], tools: Iterable[_Tool], parts: Callable[[M], Iterable[_Part]]
) -> int:
    """The tokens of a prompt: its messages' text, content parts (an image counts
    :data:`IMAGE_CHARS`) and tool calls, and its tools' names, descriptions and schemas.
    Works on the router's dataclasses and the gateway's protobuf messages alike; ``parts``
    reads a message's content parts (the two name them differently)."""
    chars = 0
    for message in messages:
        chars += len(message.content)
        for part in parts(message):
            chars += len(part.text) + (IMAGE_CHARS if part.image_url else 0)
        for call in message.tool_calls:
            chars += len(call.name) + len(call.arguments)
    for tool in tools:
        chars += len(tool.name) + len(tool.description) + len(tool.parameters_json)
    return prompt_tokens(chars, len(messages))
