"""OpenAI's ``response_format`` on Anthropic's Messages API, which has no such parameter.

Anthropic's "Tool use with Claude" guide, section "JSON mode" (and the cookbook recipe
"Extracting structured JSON using Claude and tool use"): define one tool whose
``input_schema`` is the wanted schema and force it with ``tool_choice: {"type": "tool"}``;
the tool's input is the JSON answer. :func:`json_tool` builds that tool for the request body;
:func:`as_json_answer` and :func:`json_answer_stream` turn the forced call back into the
content an OpenAI client asked for (the text of the answer, ``finish_reason`` ``stop``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import orjson

from ..chat import ChatRequest, Completion, StreamEnd, StreamEvent

__all__ = ["as_json_answer", "json_answer_stream", "json_tool", "json_tool_name"]

# The tool's name when the caller gave none (json_object); json_schema's required ``name``
# follows OpenAI's pattern [a-zA-Z0-9_-]{1,64}, which Anthropic's tool names accept too.
_DEFAULT_NAME = "json_answer"
_DESCRIPTION = "Give the answer as this tool's input: a JSON value matching its schema."


def json_tool_name(request: ChatRequest) -> str:
    """The name of the forced tool for ``request``, "" when it asks for no JSON."""
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return ""
    if fmt.type == "json_schema" and fmt.json_schema:
        return str(orjson.loads(fmt.json_schema).get("name") or _DEFAULT_NAME)
    return _DEFAULT_NAME


def json_tool(request: ChatRequest) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(tool, tool_choice) forcing a JSON answer, or None when ``request`` asks for none.
    json_object gets any object (``{"type": "object"}``); json_schema its ``schema``, with its
    ``description`` as the tool's when given."""
    name = json_tool_name(request)
    if not name:
        return None
    fmt = request.response_format
    spec: dict[str, Any] = {}
    if fmt is not None and fmt.json_schema:
        spec = orjson.loads(fmt.json_schema)
    tool = {
        "name": name,
        "description": str(spec.get("description") or _DESCRIPTION),
        "input_schema": spec.get("schema") or {"type": "object"},
    }
    return tool, {"type": "tool", "name": name}


def as_json_answer(completion: Completion, name: str) -> Completion:
    """``completion`` with the forced call ``name`` as its text content: what a client that
    asked for JSON reads. An answer without that call (a refusal, a cut answer) is unchanged."""
    forced = [c for c in completion.tool_calls if c.name == name]
    if not forced:
        return completion
    reason = "stop" if completion.finish_reason == "tool_calls" else completion.finish_reason
    return replace(
        completion,
        content=completion.content + forced[0].arguments,
        tool_calls=(),
        finish_reason=reason,
    )


async def json_answer_stream(
    events: AsyncIterator[StreamEvent], name: str
) -> AsyncIterator[StreamEvent]:
    """``events`` with the forced call ``name`` streamed as text deltas (its argument
    fragments, in order) and its ``tool_calls`` finish as ``stop``."""
    index: int | None = None
    async with aclosing(events):  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, StreamEnd):
                if index is not None and event.finish_reason == "tool_calls":
                    event = replace(event, finish_reason="stop")
                yield event
                continue
            text, others = event.content, []
            for call in event.tool_calls:
                if index is None and call.name == name:
                    index = call.index
                if call.index == index:
                    text += call.arguments
                else:
                    others.append(call)
            if text or others or not event.tool_calls:
                # The rest of the delta (the reasoning, a thinking model's) passes unchanged.
                yield replace(event, content=text, tool_calls=tuple(others))
