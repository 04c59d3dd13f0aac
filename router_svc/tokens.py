"""Cheap token estimates: prompt sizes for context-window checks and the simulated provider,
and the output of an answer whose upstream did not report it."""

from __future__ import annotations

from .chat import ChatRequest

__all__ = ["estimate_output_tokens", "estimate_prompt_tokens"]

# Roughly four characters per token for English text and code, plus per-message framing.
_CHARS_PER_TOKEN = 4
_PER_MESSAGE = 4


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Estimate the prompt tokens of ``request`` (messages, tool calls and tool schemas): one
    pass over its messages per request, however many times routing, failed attempts and
    usage without counts ask."""
    return request.derive("estimated_prompt_tokens", _estimate)


def _estimate(request: ChatRequest) -> int:
    chars = 0
    for message in request.messages:
        chars += len(message.content)
        for part in message.parts:
            chars += len(part.text) + (1000 if part.image_url else 0)
        for call in message.tool_calls:
            chars += len(call.name) + len(call.arguments)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(tool.parameters_json)
    return -(-chars // _CHARS_PER_TOKEN) + _PER_MESSAGE * len(request.messages)


def estimate_output_tokens(chars: int) -> int:
    """The tokens of ``chars`` characters of output (text, reasoning, tool arguments): one per
    four, rounded up."""
    return -(-chars // _CHARS_PER_TOKEN)
