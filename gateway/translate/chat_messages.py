"""A chat request's messages and tools, from OpenAI's JSON to the contract, checked on the way.

Each object is closed (:mod:`gateway.translate.chat_fields`): a key OpenAI's request schema
does not define is a 400 naming its path (``messages[2].foo``, ``tools[0].function.foo``),
except ``cache_control`` (carried: README, "Request fields") and the keys an assistant
message comes back with from our answers and the ``openai`` package (accepted, not
forwarded). OpenAI's keys the router does not carry (a message's ``audio``,
``function_call``) are refused unless null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from gateway.errors import InvalidRequest
from gateway.translate.chat_fields import (
    CACHE_CONTROL_KEYS,
    ECHOED_CALL_KEYS,
    ECHOED_FUNCTION_KEYS,
    ECHOED_MESSAGE_KEYS,
    FUNCTION_KEYS,
    IMAGE_URL_KEYS,
    MESSAGE_KEYS,
    PART_KEYS,
    TOOL_CALL_FUNCTION_KEYS,
    TOOL_CALL_KEYS,
    TOOL_KEYS,
    check_keys,
)
from gateway.validate import (
    expect_list,
    expect_object,
    expect_one_of,
    expect_str,
    join,
    optional_bool,
    optional_object,
    optional_str,
    required,
)
from llmrouter import chat_rules, field_limits
from llmrouter.v1 import chat_pb2

__all__ = ["json_text", "parse_message", "parse_tools"]

_ROLES: Final = chat_rules.ROLES
_MESSAGE_KEYS: Final = MESSAGE_KEYS | ECHOED_MESSAGE_KEYS
_CALL_KEYS: Final = TOOL_CALL_KEYS | ECHOED_CALL_KEYS
_CALL_FUNCTION_KEYS: Final = TOOL_CALL_FUNCTION_KEYS | ECHOED_FUNCTION_KEYS
# The keys of most messages.
_PLAIN_KEYS: Final = frozenset(("role", "content", "name"))
# OpenAI's message keys the router does not carry: refused unless null.
_UNSUPPORTED_MESSAGE_KEYS: Final = ("audio", "function_call")


def parse_message(raw: Any, param: str) -> chat_pb2.Message:
    """The message ``raw`` at ``param`` (``messages[i]``); InvalidRequest names the path."""
    obj = expect_object(raw, param)
    # Most messages have only these keys: nothing more to check, no cache_control to read.
    plain = _PLAIN_KEYS.issuperset(obj)
    if not plain:
        check_keys(obj, _MESSAGE_KEYS, param)
    role = expect_one_of(required(obj, "role", param), join(param, "role"), _ROLES)
    message = chat_pb2.Message(role=_ROLES[role])
    if (name := optional_str(obj, "name", param)) is not None:
        message.name = name
    if not plain:
        _check_role_keys(obj, role, param)

    if obj.get("tool_calls") is not None:
        calls_param = join(param, "tool_calls")
        if role != "assistant":
            raise _only_in("assistant", calls_param)
        calls = expect_list(obj["tool_calls"], calls_param)
        message.tool_calls.extend(_tool_call(c, join(calls_param, j)) for j, c in enumerate(calls))

    if (refusal := optional_str(obj, "refusal", param)) is not None:
        if role != "assistant":
            raise _only_in("assistant", join(param, "refusal"))
        message.refusal = refusal

    content = obj.get("content")
    content_param = join(param, "content")
    if content is None:
        if not (role == "assistant" and (message.tool_calls or message.refusal)):
            raise InvalidRequest(f"Missing required parameter: '{content_param}'.", content_param)
    elif isinstance(content, str):
        message.content = content
    elif isinstance(content, list):
        if not content:
            raise InvalidRequest(
                f"Invalid '{content_param}': empty array. Expected an array with minimum length 1.",
                content_param,
            )
        message.content_parts.extend(
            _content_part(p, join(content_param, j), role) for j, p in enumerate(content)
        )
    else:
        raise InvalidRequest(
            f"Invalid type for '{content_param}': expected a string or an array of content parts.",
            content_param,
        )

    if role == "tool":
        message.tool_call_id = expect_str(
            required(obj, "tool_call_id", param), join(param, "tool_call_id"), non_empty=True
        )
    if not plain and (cache := _cache_control(obj, param)) is not None:
        message.cache_control.CopyFrom(cache)
    return message


def _check_role_keys(obj: Mapping[str, Any], role: str, param: str) -> None:
    """The keys only some roles may set (null is always taken: it asks for nothing)."""
    for key in _UNSUPPORTED_MESSAGE_KEYS:
        if obj.get(key) is not None:
            path = join(param, key)
            raise InvalidRequest(
                f"Unsupported parameter: '{path}' is not supported by this router.", path
            )
    if role != "tool" and obj.get("tool_call_id") is not None:
        raise _only_in("tool", join(param, "tool_call_id"))
    for key in ECHOED_MESSAGE_KEYS:
        if obj.get(key) is not None and role != "assistant":
            raise _only_in("assistant", join(param, key))
    # What our answers carry there, sent back: checked for its type, not forwarded.
    optional_str(obj, "reasoning_content", param)
    if obj.get("annotations") is not None:
        expect_list(obj["annotations"], join(param, "annotations"))


def _only_in(role: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid parameter: '{param}' is only allowed in {role} messages.", param
    )


def _content_part(raw: Any, param: str, role: str) -> chat_pb2.ContentPart:
    obj = expect_object(raw, param)
    type_param = join(param, "type")
    kind = expect_str(required(obj, "type", param), type_param)
    if kind in PART_KEYS:
        check_keys(obj, PART_KEYS[kind], param)
    part = _part_content(obj, kind, param, role)
    if (cache := _cache_control(obj, param)) is not None:
        part.cache_control.CopyFrom(cache)
    return part


def _part_content(obj: Mapping[str, Any], kind: str, param: str, role: str) -> chat_pb2.ContentPart:
    type_param = join(param, "type")
    if kind == "text":
        return chat_pb2.ContentPart(text=expect_str(required(obj, "text", param), f"{param}.text"))
    if kind == "refusal" and role == "assistant":
        refusal = expect_str(required(obj, "refusal", param), join(param, "refusal"))
        return chat_pb2.ContentPart(text=refusal)
    if kind == "image_url":
        if role != "user":
            raise InvalidRequest(
                f"Invalid value for '{type_param}': image content is only allowed in user "
                "messages.",
                type_param,
            )
        image_param = join(param, "image_url")
        image = expect_object(required(obj, "image_url", param), image_param)
        check_keys(image, IMAGE_URL_KEYS, image_param)
        url = expect_str(required(image, "url", image_param), f"{image_param}.url", non_empty=True)
        part = chat_pb2.ContentPart(image_url=url)
        if image.get("detail") is not None:
            # Passed to OpenAI-compatible models; Anthropic and Ollama take only "auto".
            detail_param = join(image_param, "detail")
            part.detail = expect_one_of(image["detail"], detail_param, chat_rules.IMAGE_DETAILS)
        return part
    raise InvalidRequest(
        f"Invalid value for '{type_param}': '{kind}' is not supported; use 'text' or 'image_url'.",
        type_param,
    )


def _cache_control(obj: Mapping[str, Any], parent: str) -> chat_pb2.CacheControl | None:
    """``obj.cache_control`` (None when absent or null): an object of ``type`` ("ephemeral")
    and optional ``ttl`` ("5m", "1h"), as Anthropic's prompt caching reference defines it."""
    if obj.get("cache_control") is None:  # most objects: no path built
        return None
    param = join(parent, "cache_control")
    given = expect_object(obj["cache_control"], param)
    check_keys(given, CACHE_CONTROL_KEYS, param)
    cache = chat_pb2.CacheControl(
        type=expect_one_of(
            required(given, "type", param), join(param, "type"), chat_rules.CACHE_CONTROL_TYPES
        )
    )
    if given.get("ttl") is not None:
        cache.ttl = expect_one_of(given["ttl"], join(param, "ttl"), chat_rules.CACHE_TTLS)
    return cache


def _tool_call(raw: Any, param: str) -> chat_pb2.ToolCall:
    obj = expect_object(raw, param)
    check_keys(obj, _CALL_KEYS, param)
    call_id = expect_str(required(obj, "id", param), join(param, "id"), non_empty=True)
    expect_one_of(required(obj, "type", param), join(param, "type"), ("function",))
    fn_param = join(param, "function")
    fn = expect_object(required(obj, "function", param), fn_param)
    check_keys(fn, _CALL_FUNCTION_KEYS, fn_param)
    name = expect_str(required(fn, "name", fn_param), join(fn_param, "name"), non_empty=True)
    arguments = expect_str(required(fn, "arguments", fn_param), join(fn_param, "arguments"))
    return chat_pb2.ToolCall(id=call_id, name=name, arguments=arguments)


def parse_tools(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> set[str]:
    """Append the body's ``tools`` to ``chat``; their names. InvalidRequest names the path."""
    if obj.get("tools") is None:
        return set()
    names: set[str] = set()
    for i, raw in enumerate(expect_list(obj["tools"], "tools")):
        param = join("tools", i)
        tool_obj = expect_object(raw, param)
        check_keys(tool_obj, TOOL_KEYS, param)
        expect_one_of(required(tool_obj, "type", param), join(param, "type"), ("function",))
        fn_param = join(param, "function")
        fn = expect_object(required(tool_obj, "function", param), fn_param)
        check_keys(fn, FUNCTION_KEYS, fn_param)
        name_param = join(fn_param, "name")
        tool = chat_pb2.Tool(name=expect_str(required(fn, "name", fn_param), name_param))
        if not tool.name or tool.name in names:
            problem = "empty string" if not tool.name else f"duplicate tool name '{tool.name}'"
            raise InvalidRequest(f"Invalid '{name_param}': {problem}.", name_param)
        names.add(tool.name)
        if (description := optional_str(fn, "description", fn_param)) is not None:
            tool.description = description
        if (parameters := optional_object(fn, "parameters", fn_param)) is not None:
            tool.parameters_json = json_text(parameters, join(fn_param, "parameters"))
        tool.strict = optional_bool(fn, "strict", fn_param) or False
        if (cache := _cache_control(tool_obj, param)) is not None:
            tool.cache_control.CopyFrom(cache)
        chat.tools.append(tool)
    return names


def json_text(value: Any, param: str) -> str:
    """``value`` as JSON text; a value nested deeper than the router takes (or than JSON
    encoders go) is the caller's error, naming ``param``."""
    if field_limits.json_depth(value) > field_limits.JSON_MAX_DEPTH:
        raise InvalidRequest(
            f"Invalid '{param}': nested deeper than {field_limits.JSON_MAX_DEPTH} levels.", param
        )
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        raise InvalidRequest(f"Invalid '{param}': nested too deeply.", param) from None
