"""Per-message, per-part and per-tool fields of a request that the Anthropic and Ollama codecs
have no counterpart for (README, "Request fields"), by provider kind: named by their path in
the client's body, so the 400 the client gets when no model of the chain can take them names
what it sent."""

from __future__ import annotations

from typing import Literal

from .. import chat

__all__ = ["unmapped_field"]

Kind = Literal["anthropic", "ollama"]


def unmapped_field(request: chat.ChatRequest, kind: Kind) -> str:
    """The body path of the first field of ``request`` that ``kind``'s codec cannot carry, or
    "". Worked out once per request and kind (every candidate of the kind asks).

    Refused by both: a message's ``name`` (no participant names in Anthropic's Messages API or
    Ollama's ``/api/chat`` messages), an assistant message's ``refusal`` (neither has a
    refusal message; turning it into assistant text would put words in the model's mouth that
    it then reads as its own answer), an image's ``detail`` other than ``auto`` (neither API
    takes a resolution hint) and a tool's ``strict: true`` (schema-constrained tool input:
    Anthropic only behind the ``structured-outputs-2025-11-13`` beta, docs.claude.com
    "Structured outputs", which this codec does not send; Ollama's tools have none) and
    ``stream_options.include_obfuscation: true`` (chunk padding neither stream has; ``false``
    asks for nothing and is taken).

    ``cache_control`` (on a message, a content part or a tool): Ollama has no prompt caching
    to ask for; Anthropic takes it on the block it marks (see .anthropic), except where there
    is no block to carry it: an empty text part, or a message that gives no block (empty text
    and no tool calls; "Prompt caching": empty text blocks cannot be cached). Message and part
    indices are the body's: the gateway keeps their order.
    """
    return request.derive(f"unmapped_field.{kind}", lambda r: _first_unmapped(r, kind))


def _first_unmapped(request: chat.ChatRequest, kind: Kind) -> str:
    for i, m in enumerate(request.messages):
        if m.name:
            return f"messages[{i}].name"
        if m.refusal:
            return f"messages[{i}].refusal"
        for j, part in enumerate(m.parts):
            if part.image_url and part.detail not in ("", "auto"):
                return f"messages[{i}].content[{j}].image_url.detail"
            if part.cache_control is not None and (
                kind == "ollama" or not (part.text or part.image_url)
            ):
                return f"messages[{i}].content[{j}].cache_control"
        if m.cache_control is not None and (kind == "ollama" or not _has_block(m)):
            return f"messages[{i}].cache_control"
    for i, tool in enumerate(request.tools):
        if tool.strict:
            return f"tools[{i}].function.strict"
        if tool.cache_control is not None and kind == "ollama":
            return f"tools[{i}].cache_control"
    if request.include_obfuscation:
        return "stream_options.include_obfuscation"
    return ""


def _has_block(message: chat.Message) -> bool:
    """Whether the Anthropic codec makes a content block of ``message`` for a mark to go on."""
    if message.role == "tool" or message.tool_calls:
        return True
    return any(p.text or p.image_url for p in message.parts) or bool(
        not message.parts and message.content
    )
