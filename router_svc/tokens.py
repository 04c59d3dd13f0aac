"""Cheap token estimates: prompt sizes for context-window checks and the simulated provider,
and the output of an answer whose upstream did not report it."""

from __future__ import annotations

from llmrouter.token_estimate import IMAGE_CHARS, prompt_tokens, tokens_of_chars

from .chat import ChatRequest

__all__ = ["estimate_output_tokens", "estimate_prompt_tokens"]


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
            chars += len(part.text) + (IMAGE_CHARS if part.image_url else 0)
        for call in message.tool_calls:
            chars += len(call.name) + len(call.arguments)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(tool.parameters_json)
    return prompt_tokens(chars, len(request.messages))


def estimate_output_tokens(chars: int) -> int:
    """The tokens of ``chars`` characters of output (text, reasoning, tool arguments): one per
    four, rounded up."""
    return tokens_of_chars(chars)
