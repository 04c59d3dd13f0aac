"""Per-message and per-tool fields of a request that the Anthropic and Ollama codecs have no
counterpart for (README, "Request fields"): named by their path in the client's body, so the
400 the client gets when no model of the chain can take them names what it sent."""

from __future__ import annotations

from .. import chat

__all__ = ["unmapped_field"]


def unmapped_field(request: chat.ChatRequest) -> str:
    """The body path of the first field of ``request`` these codecs cannot carry, or "".
    Worked out once per request (every Anthropic and Ollama candidate asks).

    Refused: a message's ``name`` (no participant names in Anthropic's Messages API or
    Ollama's ``/api/chat`` messages), an assistant message's ``refusal`` (neither has a
    refusal message; turning it into assistant text would put words in the model's mouth that
    it then reads as its own answer), an image's ``detail`` other than ``auto`` (neither API
    takes a resolution hint) and a tool's ``strict: true`` (schema-constrained tool input:
    Anthropic only behind the ``structured-outputs-2025-11-13`` beta, docs.claude.com
    "Structured outputs", which this codec does not send; Ollama's tools have none) and
    ``stream_options.include_obfuscation: true`` (chunk padding neither stream has; ``false``
    asks for nothing and is taken). Message
    and part indices are the body's: the gateway keeps their order.
    """
    return request.derive("unmapped_field", _first_unmapped)


def _first_unmapped(request: chat.ChatRequest) -> str:
    for i, m in enumerate(request.messages):
        if m.name:
            return f"messages[{i}].name"
        if m.refusal:
            return f"messages[{i}].refusal"
        for j, part in enumerate(m.parts):
            if part.image_url and part.detail not in ("", "auto"):
                return f"messages[{i}].content[{j}].image_url.detail"
    for i, tool in enumerate(request.tools):
        if tool.strict:
            return f"tools[{i}].function.strict"
    if request.include_obfuscation:
        return "stream_options.include_obfuscation"
    return ""
