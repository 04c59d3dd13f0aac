"""Cheap token estimates: prompt sizes for context-window checks and the simulated provider,
and the output of an answer whose upstream did not report it."""

from __future__ import annotations

from llmrouter.token_estimate import estimate_prompt, tokens_of_chars

from .chat import ChatRequest, ContentPart, Message

__all__ = ["estimate_output_tokens", "estimate_prompt_tokens"]


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Estimate the prompt tokens of ``request`` (messages, tool calls and tool schemas): one
    pass over its messages per request, however many times routing, failed attempts and
    usage without counts ask."""
    return request.derive("estimated_prompt_tokens", _estimate)


def _estimate(request: ChatRequest) -> int:
    return estimate_prompt(request.messages, request.tools, _parts)


def _parts(message: Message) -> tuple[ContentPart, ...]:
    return message.parts


def estimate_output_tokens(chars: int) -> int:
    """The tokens of ``chars`` characters of output (text, reasoning, tool arguments): one per
    four, rounded up."""
    return tokens_of_chars(chars)
