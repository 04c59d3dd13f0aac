"""The ``messages`` and ``system`` of an Anthropic Messages API request as the router's
messages, checked on the way (API reference, "Messages": https://docs.anthropic.com/en/api/messages,
``messages[].content`` blocks; "Prompt caching" for ``cache_control``).

One Anthropic turn may become several router messages: a ``user`` turn's ``tool_result`` blocks
each become a ``tool`` message (the router's Anthropic codec merges them back into one user
turn), its other blocks a ``user`` message, in the turn's order. An ``assistant`` turn's text and
``tool_use`` blocks become one assistant message. ``thinking`` and ``redacted_thinking`` blocks
of earlier assistant turns are accepted and not forwarded (the router carries no reasoning in
the history, and the text of an answer never depends on them). Any other block type (documents,
server tools, search results) is refused with a 400 naming its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.errors import InvalidRequest
from gateway.translate.chat_fields import check_keys
from gateway.translate.chat_messages import json_text
from gateway.validate import (
    expect_list,
    expect_object,
    expect_one_of,
    expect_str,
    join,
    optional_bool,
    required,
)
from llmrouter import chat_rules
from llmrouter.v1 import chat_pb2

__all__ = ["BLOCK_KEYS", "parse_system", "parse_turn"]

# The keys each block type may have (API reference, "Messages", content block params).
# ``citations`` on text blocks is accepted when null or empty (what the SDK echoes back from an
# answer); a text block that cites documents is refused: the router carries no citations.
BLOCK_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "text": frozenset(("type", "text", "cache_control", "citations")),
    "image": frozenset(("type", "source", "cache_control")),
    "tool_use": frozenset(("type", "id", "name", "input", "cache_control")),
    "tool_result": frozenset(("type", "tool_use_id", "content", "is_error", "cache_control")),
    "thinking": frozenset(("type", "thinking", "signature")),
    "redacted_thinking": frozenset(("type", "data")),
}
_ROLES: Final = ("user", "assistant")
# Image sources (API reference: base64 and url; file ids need the Files API, not carried).
_BASE64_KEYS: Final = frozenset(("type", "media_type", "data"))
_URL_KEYS: Final = frozenset(("type", "url"))
_MEDIA_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")
_CACHE_KEYS: Final = frozenset(("type", "ttl"))
_USER: Final = chat_pb2.ROLE_USER
_ASSISTANT: Final = chat_pb2.ROLE_ASSISTANT


def parse_system(value: Any) -> list[chat_pb2.Message]:
    """``system``: a string, or a list of text blocks (each may carry ``cache_control``) -> one
    system message (none for an empty string or list)."""
    if isinstance(value, str):
        return [chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content=value)] if value else []
    blocks = expect_list(value, "system")
    parts = []
    for i, raw in enumerate(blocks):
        param = join("system", i)
        block = expect_object(raw, param)
        expect_one_of(required(block, "type", param), join(param, "type"), ("text",))
        parts.append(_text_part(block, param))
    if not parts:
        return []
    return [chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content_parts=parts)]


def parse_turn(raw: Any, param: str) -> list[chat_pb2.Message]:
    """One ``messages[i]`` (at ``param``) as the router's messages, in order."""
    obj = expect_object(raw, param)
    check_keys(obj, frozenset(("role", "content")), param)
    role = expect_one_of(required(obj, "role", param), join(param, "role"), _ROLES)
    content = required(obj, "content", param)
    content_param = join(param, "content")
    if isinstance(content, str):
        return [chat_pb2.Message(role=_USER if role == "user" else _ASSISTANT, content=content)]
    blocks = expect_list(content, content_param)
    if role == "assistant":
        return [_assistant(blocks, content_param)]
    return _user(blocks, content_param)


def _block(raw: Any, param: str, allowed: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """(type, block) of the block at ``param``, its keys checked; the type one of ``allowed``."""
    block = expect_object(raw, param)
    type_param = join(param, "type")
    kind = expect_str(required(block, "type", param), type_param)
    if kind not in allowed:
        known = "supported here" if kind in BLOCK_KEYS else "supported by this router"
        raise InvalidRequest(
            f"Invalid '{type_param}': content blocks of type '{kind}' are not {known}; "
            f"use one of {', '.join(repr(k) for k in allowed)}.",
            type_param,
        )
    allowed_keys = BLOCK_KEYS[kind]
    if not allowed_keys.issuperset(block):
        # A key set to null is not given (as everywhere in the body): what the anthropic
        # package echoes back of an answer's block (model_dump: ``caller``, ``citations``).
        check_keys({k: v for k, v in block.items() if v is not None}, allowed_keys, param)
    return kind, block


def _user(blocks: list[Any], param: str) -> list[chat_pb2.Message]:
    out: list[chat_pb2.Message] = []
    parts: list[chat_pb2.ContentPart] = []
    for j, raw in enumerate(blocks):
        block_param = join(param, j)
        kind, block = _block(raw, block_param, ("text", "image", "tool_result"))
        if kind == "tool_result":
            if parts:
                out.append(chat_pb2.Message(role=_USER, content_parts=parts))
                parts = []
            out.append(_tool_result(block, block_param))
        elif kind == "text":
            parts.append(_text_part(block, block_param))
        else:
            parts.append(_image_part(block, block_param))
    if parts or not out:
        out.append(chat_pb2.Message(role=_USER, content_parts=parts))
    return out


def _assistant(blocks: list[Any], param: str) -> chat_pb2.Message:
    message = chat_pb2.Message(role=_ASSISTANT)
    allowed = ("text", "tool_use", "thinking", "redacted_thinking")
    for j, raw in enumerate(blocks):
        block_param = join(param, j)
        kind, block = _block(raw, block_param, allowed)
        if kind == "text":
            message.content_parts.append(_text_part(block, block_param))
        elif kind == "tool_use":
            message.tool_calls.append(_tool_use(block, block_param))
            if (cache := cache_control(block, block_param)) is not None:
                # The router marks an assistant message's last block, its last tool call.
                message.cache_control.CopyFrom(cache)
        elif kind == "thinking":
            expect_str(required(block, "thinking", block_param), join(block_param, "thinking"))
        else:
            expect_str(required(block, "data", block_param), join(block_param, "data"))
    return message


def _text_part(block: Mapping[str, Any], param: str) -> chat_pb2.ContentPart:
    citations = block.get("citations")
    if citations not in (None, []):
        citations_param = join(param, "citations")
        raise InvalidRequest(
            f"Invalid '{citations_param}': citations are not supported by this router.",
            citations_param,
        )
    part = chat_pb2.ContentPart(
        text=expect_str(required(block, "text", param), join(param, "text"))
    )
    if (cache := cache_control(block, param)) is not None:
        part.cache_control.CopyFrom(cache)
    return part


def _image_part(block: Mapping[str, Any], param: str) -> chat_pb2.ContentPart:
    source_param = join(param, "source")
    source = expect_object(required(block, "source", param), source_param)
    kind = expect_one_of(
        required(source, "type", source_param), join(source_param, "type"), ("base64", "url")
    )
    if kind == "base64":
        check_keys(source, _BASE64_KEYS, source_param)
        media = expect_one_of(
            required(source, "media_type", source_param),
            join(source_param, "media_type"),
            _MEDIA_TYPES,
        )
        data_param = join(source_param, "data")
        data = expect_str(required(source, "data", source_param), data_param, non_empty=True)
        url = f"data:{media};base64,{data}"
    else:
        check_keys(source, _URL_KEYS, source_param)
        url_param = join(source_param, "url")
        url = expect_str(required(source, "url", source_param), url_param, non_empty=True)
    part = chat_pb2.ContentPart(image_url=url)
    if (cache := cache_control(block, param)) is not None:
        part.cache_control.CopyFrom(cache)
    return part


def _tool_use(block: Mapping[str, Any], param: str) -> chat_pb2.ToolCall:
    call_id = expect_str(required(block, "id", param), join(param, "id"), non_empty=True)
    name = expect_str(required(block, "name", param), join(param, "name"), non_empty=True)
    input_param = join(param, "input")
    arguments = expect_object(required(block, "input", param), input_param)
    return chat_pb2.ToolCall(id=call_id, name=name, arguments=json_text(arguments, input_param))


def _tool_result(block: Mapping[str, Any], param: str) -> chat_pb2.Message:
    """A ``tool_result`` block as a tool message. ``content`` is a string or text blocks (an
    image in a tool result is refused: the router's tool messages carry text only);
    ``is_error: true`` is carried as ``Message.is_error``."""
    id_param = join(param, "tool_use_id")
    message = chat_pb2.Message(
        role=chat_pb2.ROLE_TOOL,
        tool_call_id=expect_str(required(block, "tool_use_id", param), id_param, non_empty=True),
    )
    content = block.get("content")
    content_param = join(param, "content")
    if isinstance(content, str):
        message.content = content
    elif content is not None:
        for k, raw in enumerate(expect_list(content, content_param)):
            part_param = join(content_param, k)
            _, part = _block(raw, part_param, ("text",))
            message.content_parts.append(_text_part(part, part_param))
    if optional_bool(block, "is_error", param):
        message.is_error = True
    if (cache := cache_control(block, param)) is not None:
        message.cache_control.CopyFrom(cache)
    return message


def cache_control(obj: Mapping[str, Any], parent: str) -> chat_pb2.CacheControl | None:
    """``obj.cache_control`` (None when absent or null): ``{"type": "ephemeral", "ttl"?}``."""
    if obj.get("cache_control") is None:
        return None
    param = join(parent, "cache_control")
    given = expect_object(obj["cache_control"], param)
    check_keys(given, _CACHE_KEYS, param)
    cache = chat_pb2.CacheControl(
        type=expect_one_of(
            required(given, "type", param), join(param, "type"), chat_rules.CACHE_CONTROL_TYPES
        )
    )
    if given.get("ttl") is not None:
        cache.ttl = expect_one_of(given["ttl"], join(param, "ttl"), chat_rules.CACHE_TTLS)
    return cache
