"""OpenAI chat-completions JSON to the router's ChatRequest (validated on the way)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc

from gateway.errors import InvalidRequest, UpstreamError, from_rpc_error
from gateway.translate.chat_fields import check_fields
from gateway.translate.chat_messages import json_text, parse_message, parse_tools
from gateway.translate.chat_options import parse_options, parse_stream_options
from gateway.translate.fallbacks import client_param, parse_fallbacks
from gateway.validate import (
    check_length,
    expect_list,
    expect_number,
    expect_object,
    expect_one_of,
    expect_str,
    expect_string_map,
    join,
    optional_bool,
    optional_int,
    optional_number,
    optional_object,
    optional_str,
    required,
)
from llmrouter import chat_rules, field_limits
from llmrouter.v1 import chat_pb2, router_service_pb2

__all__ = [
    "CHAT_COMPLETIONS",
    "ParsedRequest",
    "caller_headers",
    "parse_chat_request",
    "router_extension",
]

# The header form of llmrouter.source (the body wins).
_SOURCE_HEADER: Final = "X-LLMRouter-Source"
# The header form of llmrouter.cache: "on" or "off" (the body wins).
_CACHE_HEADER: Final = "X-LLMRouter-Cache"
_CACHE_VALUES: Final = {"on": True, "off": False}

# Enum maps and ranges come from llmrouter.chat_rules (shared with the router and the schema).
_ROLES: Final = chat_rules.ROLES
_TOOL_CHOICE_MODES: Final = chat_rules.TOOL_CHOICE_MODES
_RESPONSE_FORMATS: Final = chat_rules.RESPONSE_FORMATS
_TEMPERATURE: Final = chat_rules.TEMPERATURE
_TOP_P: Final = chat_rules.TOP_P
_MAX_TOKENS: Final = chat_rules.MAX_TOKENS
_SEED: Final = chat_rules.SEED
_PENALTY: Final = chat_rules.PENALTY
# n below the minimum is a range error; above it, "only n=1 is supported".
_N_FLOOR: Final = chat_rules.Range(minimum=chat_rules.N.minimum)
# The front door recorded with the usage of requests through /v1/chat/completions.
CHAT_COMPLETIONS: Final = "chat_completions"
_ROUTER_KEYS: Final = (
    "category",
    "preferences",
    "min_quality",
    "task_type",
    "source",
    "extra_body",
    "cache",
)


@dataclass(frozen=True)
class ParsedRequest:
    """A validated chat request and the HTTP-level options that do not go to the router."""

    chat: chat_pb2.ChatRequest
    # SSE response instead of one JSON body.
    stream: bool
    # stream_options.include_usage: send a last chunk with usage and no choices.
    include_usage: bool
    # Where each of chat.fallback_models came from in the body ("models[1]", "fallbacks[0]").
    fallback_params: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """The requested model (a registry name, an alias or ``auto``)."""
        return self.chat.model

    def complete_request(self) -> router_service_pb2.CompleteRequest:
        """The request for RouterService.Complete."""
        return router_service_pb2.CompleteRequest(chat=self.chat)

    def route_request(self) -> router_service_pb2.RouteRequest:
        """The request for RouterService.Route."""
        return router_service_pb2.RouteRequest(chat=self.chat)

    def router_error(self, exc: grpc.RpcError) -> UpstreamError:
        """The router's error for this request, a field it names given as the body's path
        (``chat.fallback_models[0]`` -> ``models[1]``)."""
        error = from_rpc_error(exc)
        param = client_param(error.param, self.fallback_params)
        if param in self.fallback_params:
            error.message = f"Invalid '{param}': {error.message}."
        error.param = param
        return error


def parse_chat_request(
    body: Any,
    *,
    client_request_id: str = "",
    source: str | None = None,
    api_key_id: str | None = None,
    cache: str | None = None,
    front_door: str = CHAT_COMPLETIONS,
    team_id: str = "",
) -> ParsedRequest:
    """Validate a decoded ``/v1/chat/completions`` body.

    ``source`` is the X-LLMRouter-Source header; ``api_key_id`` the id of the key that
    authenticated the request (never the key), recorded with its usage; ``client_request_id``
    the client's X-Request-Id, a correlation label (the router generates the request's id);
    ``team_id`` the key's team ("" when none), for team budgets and the ledger;
    ``cache`` the X-LLMRouter-Cache header ("on" or "off"; llmrouter.cache wins);
    ``front_door`` the name recorded with the usage (``/v1/route`` asks for the same request).
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", None)
    obj: dict[str, Any] = body
    check_fields(obj)
    chat = chat_pb2.ChatRequest(client_request_id=client_request_id, front_door=front_door)
    chat.model = expect_str(required(obj, "model"), "model", non_empty=True)
    fallbacks, fallback_params = parse_fallbacks(obj, chat.model)
    chat.fallback_models.extend(fallbacks)

    messages = expect_list(required(obj, "messages"), "messages")
    if not messages:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages"
        )
    chat.messages.extend(parse_message(raw, join("messages", i)) for i, raw in enumerate(messages))

    tool_names = parse_tools(obj, chat)
    if obj.get("tool_choice") is not None:
        chat.tool_choice.CopyFrom(_tool_choice(obj["tool_choice"], tool_names))

    _sampling(obj, chat)
    parse_options(obj, chat)
    chat.stops.extend(_stops(obj.get("stop")))
    if (response_format := optional_object(obj, "response_format")) is not None:
        chat.response_format.CopyFrom(_response_format(response_format))
    # user, metadata, source, category and task_type are stored with the usage: capped
    # (llmrouter.field_limits) so one request cannot fill the ledger.
    if (user := optional_str(obj, "user")) is not None:
        chat.user = check_length(user, "user", field_limits.USER_MAX_CHARS)
    if obj.get("metadata") is not None:
        chat.metadata.update(
            expect_string_map(
                obj["metadata"],
                "metadata",
                max_pairs=field_limits.METADATA_MAX_PAIRS,
                max_key_length=field_limits.METADATA_KEY_MAX_CHARS,
                max_value_length=field_limits.METADATA_VALUE_MAX_CHARS,
            )
        )

    caller_headers(chat, source=source, api_key_id=api_key_id, team_id=team_id, cache=cache)
    if (extension := optional_object(obj, "llmrouter")) is not None:
        router_extension(extension, chat)

    stream = optional_bool(obj, "stream") or False
    include_usage = parse_stream_options(obj, chat, stream=stream)
    return ParsedRequest(chat, stream, include_usage, fallback_params)


def caller_headers(
    chat: chat_pb2.ChatRequest,
    *,
    source: str | None,
    api_key_id: str | None,
    cache: str | None,
    team_id: str = "",
) -> None:
    """Set on ``chat`` what the request's headers and key say: the X-LLMRouter-Source
    ``source``, the authenticated key's id and team, the X-LLMRouter-Cache ``cache`` ("on" or
    "off"); the body's ``llmrouter`` object, read after, wins."""
    if source:
        chat.caller.source = check_length(
            source.strip(), _SOURCE_HEADER, field_limits.SOURCE_MAX_CHARS
        )
    if api_key_id:
        chat.caller.api_key_id = api_key_id
    if team_id:
        chat.caller.team_id = team_id
    if cache is not None:
        wanted = _CACHE_VALUES.get(cache.strip().lower())
        if wanted is None:
            raise InvalidRequest(
                f"Invalid value for '{_CACHE_HEADER}': expected 'on' or 'off'.", _CACHE_HEADER
            )
        chat.cache = wanted


def _tool_choice(value: Any, tool_names: set[str]) -> chat_pb2.ToolChoice:
    if isinstance(value, str):
        mode = expect_one_of(value, "tool_choice", _TOOL_CHOICE_MODES)
        if mode == "required" and not tool_names:
            raise InvalidRequest(
                "Invalid value for 'tool_choice': 'required' needs at least one tool in 'tools'.",
                "tool_choice",
            )
        return chat_pb2.ToolChoice(mode=_TOOL_CHOICE_MODES[mode])
    if isinstance(value, dict):
        expect_one_of(required(value, "type", "tool_choice"), "tool_choice.type", ("function",))
        fn = expect_object(required(value, "function", "tool_choice"), "tool_choice.function")
        param = "tool_choice.function.name"
        name = expect_str(required(fn, "name", "tool_choice.function"), param, non_empty=True)
        if name not in tool_names:
            raise InvalidRequest(
                f"Invalid value for '{param}': no function named '{name}' in 'tools'.", param
            )
        return chat_pb2.ToolChoice(function_name=name)
    raise InvalidRequest(
        "Invalid type for 'tool_choice': expected a string or an object.", "tool_choice"
    )


def _sampling(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> None:
    if (temperature := optional_number(obj, "temperature", within=_TEMPERATURE)) is not None:
        chat.temperature = temperature
    if (top_p := optional_number(obj, "top_p", within=_TOP_P)) is not None:
        chat.top_p = top_p
    # max_completion_tokens (the newer name) is set by parse_options: each travels under its
    # own name, as OpenAI-compatible upstreams tell them apart.
    if (max_tokens := optional_int(obj, "max_tokens", within=_MAX_TOKENS)) is not None:
        chat.max_tokens = max_tokens
    if (seed := optional_int(obj, "seed", within=_SEED)) is not None:
        chat.seed = seed
    for penalty in ("presence_penalty", "frequency_penalty"):
        if (value := optional_number(obj, penalty, within=_PENALTY)) is not None:
            setattr(chat, penalty, value)
    # Below the minimum reads like OpenAI's range error; above it, we say what we support.
    if (n := optional_int(obj, "n", within=_N_FLOOR)) is not None and n not in chat_rules.N:
        raise InvalidRequest(f"Invalid 'n': only n={chat_rules.N.maximum} is supported.", "n")


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if len(value) > chat_rules.STOP_MAX_ITEMS:
            raise InvalidRequest(
                f"Invalid 'stop': array too long. Expected an array with maximum length "
                f"{chat_rules.STOP_MAX_ITEMS}, but got an array with length {len(value)} instead.",
                "stop",
            )
        return [expect_str(v, join("stop", i)) for i, v in enumerate(value)]
    raise InvalidRequest(
        "Invalid type for 'stop': expected a string or an array of strings.", "stop"
    )


def _response_format(obj: Mapping[str, Any]) -> chat_pb2.ResponseFormat:
    parent = "response_format"
    kind = expect_one_of(required(obj, "type", parent), join(parent, "type"), _RESPONSE_FORMATS)
    result = chat_pb2.ResponseFormat(type=_RESPONSE_FORMATS[kind])
    if kind == "json_schema":
        schema_param = join(parent, "json_schema")
        schema = expect_object(required(obj, "json_schema", parent), schema_param)
        expect_str(required(schema, "name", schema_param), f"{schema_param}.name", non_empty=True)
        optional_object(schema, "schema", schema_param)
        optional_bool(schema, "strict", schema_param)
        result.json_schema = json_text(schema, schema_param)
    return result


def router_extension(ext: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> None:
    """Our ``llmrouter`` object of a request body (category, task_type, source, cache,
    extra_body, preferences, min_quality) onto ``chat``; strict: an unknown key is a 400
    naming it."""
    # Our own extension is strict (unlike OpenAI's top level) so typos do not pass silently.
    for key in ext:
        if key not in _ROUTER_KEYS:
            raise InvalidRequest(f"Unrecognized parameter: 'llmrouter.{key}'.", f"llmrouter.{key}")
    if (category := optional_str(ext, "category", "llmrouter")) is not None:
        chat.routing.category = check_length(
            category, "llmrouter.category", field_limits.CATEGORY_MAX_CHARS
        )
    if (task_type := optional_str(ext, "task_type", "llmrouter")) is not None:
        chat.routing.task_type = check_length(
            task_type, "llmrouter.task_type", field_limits.TASK_TYPE_MAX_CHARS
        )
    if (source := optional_str(ext, "source", "llmrouter")) is not None:
        # The body is more specific than the header.
        chat.caller.source = check_length(source, "llmrouter.source", field_limits.SOURCE_MAX_CHARS)
    if (cache := optional_bool(ext, "cache", "llmrouter")) is not None:
        chat.cache = cache
    if (extra := optional_object(ext, "extra_body", "llmrouter")) is not None:
        chat.extra_body_json = check_length(
            json_text(extra, "llmrouter.extra_body"),
            "llmrouter.extra_body",
            field_limits.EXTRA_BODY_MAX_CHARS,
        )
    if (preferences := optional_object(ext, "preferences", "llmrouter")) is not None:
        parent = "llmrouter.preferences"
        for key, value in preferences.items():
            if key not in chat_rules.PREFERENCE_KEYS:
                param = join(parent, key)
                raise InvalidRequest(f"Unrecognized parameter: '{param}'.", param)
            if value is not None:
                weight = expect_number(value, join(parent, key), chat_rules.PREFERENCE_WEIGHT)
                setattr(chat.routing.preferences, key, weight)
    bound = optional_number(ext, "min_quality", "llmrouter", within=chat_rules.MIN_QUALITY)
    if bound is not None:
        if bound != bound:  # NaN is in no range, but compares false to both ends
            raise InvalidRequest(
                "Invalid 'llmrouter.min_quality': expected a number in [0, 1].",
                "llmrouter.min_quality",
            )
        chat.routing.min_quality = bound
