"""A ChatRequest's messages and tools from the ``llmrouter.v1`` contract, checked, beside
:mod:`.chat`; errors name the field (``chat.messages[2].content_parts[0].cache_control.ttl``)."""

from __future__ import annotations

from typing import cast

import orjson

from llmrouter import chat_rules, field_limits
from llmrouter.v1 import chat_pb2

from ..chat import CacheControl, ContentPart, Message, Role, Tool, ToolCall
from ..errors import InvalidRequest

__all__ = ["cache_control_from_proto", "json_object", "message_from_proto", "tool_from_proto"]

_ROLES: dict[int, Role] = {v: cast("Role", k) for k, v in chat_rules.ROLES.items()}
_IMAGE_DETAILS = chat_rules.IMAGE_DETAILS
# Tool schemas and response schemas nested deeper than this are refused.
_MAX_JSON_DEPTH = field_limits.JSON_MAX_DEPTH


def message_from_proto(m: chat_pb2.Message, path: str) -> Message:
    """One message of the request at ``path`` (``chat.messages[i]``)."""
    role = _ROLES.get(m.role)
    if role is None:
        raise InvalidRequest("role must be set", field=f"{path}.role")
    if role == "tool" and not m.tool_call_id:
        raise InvalidRequest("tool messages need tool_call_id", field=f"{path}.tool_call_id")
    if m.tool_calls and role != "assistant":
        raise InvalidRequest("only assistant messages carry tool_calls", field=f"{path}.tool_calls")
    # Most messages are plain text: no generator is built for their empty lists.
    parts: tuple[ContentPart, ...] = ()
    if m.content_parts:
        parts = tuple(_part(p, f"{path}.content_parts[{j}]") for j, p in enumerate(m.content_parts))
    calls: tuple[ToolCall, ...] = ()
    if m.tool_calls:
        calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in m.tool_calls)
        for i, call in enumerate(calls):
            if not call.name:
                raise InvalidRequest("tool call needs a name", field=f"{path}.tool_calls[{i}].name")
    refusal = m.refusal
    if refusal and role != "assistant":
        raise InvalidRequest("only assistant messages carry a refusal", field=f"{path}.refusal")
    cache = cache_control_from_proto(m, path) if m.HasField("cache_control") else None
    if (is_error := m.is_error) and role != "tool":
        raise InvalidRequest("only tool messages carry is_error", field=f"{path}.is_error")
    return Message(role, m.content, parts, m.name, calls, m.tool_call_id, refusal, cache, is_error)


def _part(p: chat_pb2.ContentPart, path: str) -> ContentPart:
    if p.detail and (not p.image_url or p.detail not in _IMAGE_DETAILS):
        raise InvalidRequest(
            f"detail must be one of {', '.join(_IMAGE_DETAILS)}, on an image part",
            field=f"{path}.detail",
        )
    cache = cache_control_from_proto(p, path)
    return ContentPart(text=p.text, image_url=p.image_url, detail=p.detail, cache_control=cache)


def tool_from_proto(t: chat_pb2.Tool, path: str) -> Tool:
    """One tool of the request at ``path`` (``chat.tools[i]``)."""
    if not t.name:
        raise InvalidRequest("tool needs a name", field=f"{path}.name")
    if t.parameters_json:
        json_object(t.parameters_json, f"{path}.parameters_json")
    return Tool(
        t.name,
        t.description,
        t.parameters_json,
        t.strict,
        t.HasField("description"),
        cache_control_from_proto(t, path),
    )


def cache_control_from_proto(
    holder: chat_pb2.ContentPart | chat_pb2.Message | chat_pb2.Tool, path: str
) -> CacheControl | None:
    """``holder.cache_control`` (None when unset; ``path`` is the holder's); its ``type`` must
    be one of :data:`llmrouter.chat_rules.CACHE_CONTROL_TYPES` and its ``ttl`` unset or one
    of :data:`~llmrouter.chat_rules.CACHE_TTLS` (InvalidRequest naming
    ``<path>.cache_control.type`` or ``.ttl``), as Anthropic's prompt caching reference
    defines them."""
    if not holder.HasField("cache_control"):
        return None
    given, path = holder.cache_control, f"{path}.cache_control"
    if given.type not in chat_rules.CACHE_CONTROL_TYPES:
        raise InvalidRequest(
            f"type must be one of {', '.join(chat_rules.CACHE_CONTROL_TYPES)}",
            field=f"{path}.type",
        )
    if given.ttl and given.ttl not in chat_rules.CACHE_TTLS:
        raise InvalidRequest(
            f"ttl must be one of {', '.join(chat_rules.CACHE_TTLS)}, or unset", field=f"{path}.ttl"
        )
    return CacheControl(given.type, given.ttl)


def json_object(text: str, field: str) -> None:
    """Providers embed these as JSON: refuse what is not a JSON object here, not upstream."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequest("must be a JSON object (not valid JSON)", field=field) from None
    if not isinstance(value, dict):
        raise InvalidRequest("must be a JSON object", field=field)
    if field_limits.json_depth(value) > _MAX_JSON_DEPTH:
        # The request body that embeds it must still encode (orjson stops at 255 levels).
        raise InvalidRequest(f"is nested deeper than {_MAX_JSON_DEPTH} levels", field=field)
