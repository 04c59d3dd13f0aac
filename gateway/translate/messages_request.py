"""Anthropic Messages API JSON (``POST /v1/messages``, ``/v1/messages/count_tokens``) to the
router's ChatRequest, validated on the way.

Fields and their rules are the API reference's ("Messages", https://docs.anthropic.com/en/api/
messages; "Count Message tokens"). What the router carries is translated: ``system`` to a system
message, ``stop_sequences`` to stops, ``tool_choice`` ``any`` to required and
``disable_parallel_tool_use`` to ``parallel_tool_calls: false``, ``metadata.user_id`` to
``user``, ``service_tier`` ``standard_only`` to OpenAI's ``default`` (the router's Anthropic
codec maps it back). A field the router does not carry is refused with a 400 naming it, never
dropped: ``top_k``, ``thinking`` of type ``enabled``, ``container``, ``mcp_servers`` and the
other server-side features. Our own ``llmrouter`` object (category, preferences, source, cache,
extra_body) is taken as on chat completions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.errors import InvalidRequest
from gateway.translate.chat_messages import json_text
from gateway.translate.chat_request import (
    ParsedRequest,
    caller_headers,
    router_extension,
)
from gateway.translate.messages_blocks import cache_control, parse_system, parse_turn
from gateway.validate import (
    check_length,
    expect_list,
    expect_object,
    expect_one_of,
    expect_str,
    join,
    optional_bool,
    optional_int,
    optional_number,
    optional_object,
    optional_str,
    required,
)
from llmrouter import chat_rules, field_limits
from llmrouter.v1 import chat_pb2

__all__ = ["MESSAGES", "MESSAGES_FIELDS", "ParsedMessages", "parse_messages_request"]

# The front door recorded with the usage of these requests.
MESSAGES: Final = "messages"
# Anthropic's temperature range (API reference: "Ranges from 0.0 to 1.0").
_TEMPERATURE: Final = chat_rules.Range(0, 1)
# The top-level fields of a Messages request the gateway takes.
MESSAGES_FIELDS: Final = frozenset(
    (
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "llmrouter",
    )
)
# Fields of the reference the router does not carry: refused by name when set (not null).
_REFUSED: Final[Mapping[str, str]] = {
    "top_k": "the router carries no top_k sampling",
    "container": "server-side containers are not available through this router",
    "mcp_servers": "MCP servers are not available through this router",
    "context_management": "context management is not available through this router",
    "output_format": "structured outputs are not available on /v1/messages; use 'tools'",
    "output_config": "output configuration is not available on /v1/messages",
    "inference_geo": "inference regions are chosen by the router's configuration",
}
_SERVICE_TIERS: Final = {"auto": "auto", "standard_only": "default"}
_TOOL_KEYS: Final = frozenset(("name", "description", "input_schema", "cache_control", "type"))
_TOOL_CHOICE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "auto": frozenset(("type", "disable_parallel_tool_use")),
    "any": frozenset(("type", "disable_parallel_tool_use")),
    "tool": frozenset(("type", "name", "disable_parallel_tool_use")),
    "none": frozenset(("type",)),
}
_MODES: Final = {
    "auto": chat_pb2.TOOL_CHOICE_MODE_AUTO,
    "any": chat_pb2.TOOL_CHOICE_MODE_REQUIRED,
    "none": chat_pb2.TOOL_CHOICE_MODE_NONE,
}


@dataclass(frozen=True)
class ParsedMessages:
    """A validated Messages request: the router's ChatRequest and ``stream``."""

    chat: chat_pb2.ChatRequest
    stream: bool

    @property
    def parsed(self) -> ParsedRequest:
        """As a chat request (for the shared router calls and error mapping)."""
        return ParsedRequest(self.chat, self.stream, include_usage=False)


def parse_messages_request(
    body: Any,
    *,
    count_only: bool = False,
    client_request_id: str = "",
    source: str | None = None,
    api_key_id: str | None = None,
    team_id: str = "",
    cache: str | None = None,
) -> ParsedMessages:
    """Validate a decoded ``/v1/messages`` body (``count_only``: a ``count_tokens`` body, where
    ``max_tokens`` and ``stream`` do not apply). InvalidRequest names the field. The other
    arguments are as for :func:`gateway.translate.parse_chat_request`."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", None)
    obj: dict[str, Any] = body
    for key in obj:
        if key in _REFUSED:
            if obj[key] is None:
                continue
            raise InvalidRequest(f"Unsupported parameter: '{key}': {_REFUSED[key]}.", key)
        if key not in MESSAGES_FIELDS:
            raise InvalidRequest(f"{key}: Extra inputs are not permitted", key)
    chat = chat_pb2.ChatRequest(client_request_id=client_request_id, front_door=MESSAGES)
    chat.model = expect_str(required(obj, "model"), "model", non_empty=True)
    if not count_only or obj.get("max_tokens") is not None:
        chat.max_tokens = _max_tokens(obj)
    if obj.get("system") is not None:
        chat.messages.extend(parse_system(obj["system"]))
    turns = expect_list(required(obj, "messages"), "messages")
    if not turns:
        raise InvalidRequest("messages: at least one message is required", "messages")
    for i, raw in enumerate(turns):
        chat.messages.extend(parse_turn(raw, join("messages", i)))
    tool_names = _tools(obj, chat)
    if obj.get("tool_choice") is not None:
        _tool_choice(obj["tool_choice"], tool_names, chat)
    if (temperature := optional_number(obj, "temperature", within=_TEMPERATURE)) is not None:
        chat.temperature = temperature
    if (top_p := optional_number(obj, "top_p", within=chat_rules.TOP_P)) is not None:
        chat.top_p = top_p
    if obj.get("stop_sequences") is not None:
        stops = expect_list(obj["stop_sequences"], "stop_sequences")
        chat.stops.extend(expect_str(s, join("stop_sequences", i)) for i, s in enumerate(stops))
    if (metadata := optional_object(obj, "metadata")) is not None:
        _metadata(metadata, chat)
    if obj.get("service_tier") is not None:
        tier = expect_one_of(obj["service_tier"], "service_tier", tuple(_SERVICE_TIERS))
        chat.service_tier = _SERVICE_TIERS[tier]
    if (thinking := optional_object(obj, "thinking")) is not None:
        _thinking(thinking)
    caller_headers(chat, source=source, api_key_id=api_key_id, team_id=team_id, cache=cache)
    if (extension := optional_object(obj, "llmrouter")) is not None:
        router_extension(extension, chat)
    stream = optional_bool(obj, "stream") or False
    if stream and count_only:
        raise InvalidRequest("stream: Extra inputs are not permitted", "stream")
    return ParsedMessages(chat, stream)


def _max_tokens(obj: Mapping[str, Any]) -> int:
    value = optional_int(obj, "max_tokens", within=chat_rules.MAX_TOKENS)
    if value is None:
        raise InvalidRequest("max_tokens: Field required", "max_tokens")
    return value


def _tools(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> set[str]:
    """``tools``: custom tools (``name``, ``description``, ``input_schema``); a server tool
    (``type`` other than ``custom``: web search, code execution...) is refused by path."""
    if obj.get("tools") is None:
        return set()
    names: set[str] = set()
    for i, raw in enumerate(expect_list(obj["tools"], "tools")):
        param = join("tools", i)
        given = expect_object(raw, param)
        if given.get("type") not in (None, "custom"):
            type_param = join(param, "type")
            raise InvalidRequest(
                f"Invalid '{type_param}': server tools ({given['type']!r}) are not available "
                "through this router; only custom tools (name, description, input_schema).",
                type_param,
            )
        for key in given:
            if key not in _TOOL_KEYS:
                raise InvalidRequest(
                    f"{param}.{key}: Extra inputs are not permitted", f"{param}.{key}"
                )
        name_param = join(param, "name")
        name = expect_str(required(given, "name", param), name_param, non_empty=True)
        if name in names:
            raise InvalidRequest(f"{name_param}: duplicate tool name '{name}'.", name_param)
        names.add(name)
        tool = chat_pb2.Tool(name=name)
        if (description := optional_str(given, "description", param)) is not None:
            tool.description = description
        schema_param = join(param, "input_schema")
        schema = expect_object(required(given, "input_schema", param), schema_param)
        tool.parameters_json = json_text(schema, schema_param)
        if (cache := cache_control(given, param)) is not None:
            tool.cache_control.CopyFrom(cache)
        chat.tools.append(tool)
    return names


def _tool_choice(value: Any, tool_names: set[str], chat: chat_pb2.ChatRequest) -> None:
    choice = expect_object(value, "tool_choice")
    kind = expect_one_of(
        required(choice, "type", "tool_choice"), "tool_choice.type", _TOOL_CHOICE_KEYS
    )
    for key in choice:
        if key not in _TOOL_CHOICE_KEYS[kind]:
            param = f"tool_choice.{key}"
            raise InvalidRequest(f"{param}: Extra inputs are not permitted", param)
    if kind == "tool":
        name = expect_str(
            required(choice, "name", "tool_choice"), "tool_choice.name", non_empty=True
        )
        if name not in tool_names:
            raise InvalidRequest(
                f"tool_choice.name: no tool named '{name}' in 'tools'.", "tool_choice.name"
            )
        chat.tool_choice.function_name = name
    else:
        if kind == "any" and not tool_names:
            raise InvalidRequest(
                "tool_choice.type: 'any' needs at least one tool in 'tools'.", "tool_choice.type"
            )
        chat.tool_choice.mode = _MODES[kind]
    if optional_bool(choice, "disable_parallel_tool_use", "tool_choice"):
        chat.parallel_tool_calls = False


def _metadata(metadata: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> None:
    """``metadata``: only ``user_id`` (an opaque id of the end user), carried as ``user``."""
    for key in metadata:
        if key != "user_id":
            param = f"metadata.{key}"
            raise InvalidRequest(f"{param}: Extra inputs are not permitted", param)
    if (user := optional_str(metadata, "user_id", "metadata")) is not None:
        chat.user = check_length(user, "metadata.user_id", field_limits.USER_MAX_CHARS)


def _thinking(thinking: Mapping[str, Any]) -> None:
    """``thinking``: ``{"type": "disabled"}`` asks for nothing and is taken; ``enabled`` (a
    ``budget_tokens`` of extended thinking) and ``adaptive`` are refused: the router has no
    thinking budget to give a model (OpenAI-compatible models take ``reasoning_effort`` on
    ``/v1/chat/completions``)."""
    kind = expect_one_of(
        required(thinking, "type", "thinking"), "thinking.type", ("enabled", "disabled", "adaptive")
    )
    if kind != "disabled":
        raise InvalidRequest(
            f"Unsupported parameter: 'thinking' of type '{kind}': the router carries no thinking "
            "budget. Models that reason on their own still return thinking blocks.",
            "thinking",
        )
