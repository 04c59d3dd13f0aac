"""OpenAI Responses API JSON (``POST /v1/responses``, the stateless subset) to the router's
ChatRequest, validated on the way.

Fields and their rules are the API reference's ("Create a model response":
https://platform.openai.com/docs/api-reference/responses/create; the ``openai`` package's
``types/responses/response_create_params.py``). What the router carries is translated:
``instructions`` to a system message before ``input`` (:mod:`gateway.translate.responses_items`),
``max_output_tokens`` to ``max_completion_tokens``, ``text.format`` to the response format,
``reasoning.effort`` to ``reasoning_effort``, function ``tools`` and ``tool_choice`` to tools.
Stored responses are not enabled: ``previous_response_id`` and ``store: true`` are refused with a
400 naming them (``store`` left out or false: nothing is stored, and the answer says
``store: false``), as are ``conversation`` and ``background``. Any other field the router does
not carry is refused with a 400 naming it, never dropped. Our own ``llmrouter`` object is taken
as on chat completions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.errors import InvalidRequest
from gateway.translate.chat_fields import check_keys
from gateway.translate.chat_messages import json_text
from gateway.translate.chat_request import ParsedRequest, caller_headers, router_extension
from gateway.translate.responses_items import parse_input
from gateway.validate import (
    check_length,
    expect_list,
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
from llmrouter.v1 import chat_pb2

__all__ = [
    "REFUSED_FIELDS",
    "RESPONSES",
    "RESPONSES_FIELDS",
    "ParsedResponses",
    "parse_responses_request",
]

# The front door recorded with the usage of these requests.
RESPONSES: Final = "responses"
# The top-level fields the gateway takes (a value it does not honour is refused where read).
RESPONSES_FIELDS: Final = frozenset(
    (
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "temperature",
        "top_p",
        "text",
        "parallel_tool_calls",
        "metadata",
        "user",
        "stream",
        "stream_options",
        "store",
        "reasoning",
        "service_tier",
        "truncation",
        "include",
        "llmrouter",
    )
)
# Fields of the reference the router does not carry: refused by name when set (not null).
REFUSED_FIELDS: Final[Mapping[str, str]] = {
    "previous_response_id": "stored responses are not enabled on this gateway; send the "
    "conversation so far in 'input'",
    "conversation": "stored conversations are not enabled on this gateway; send the "
    "conversation so far in 'input'",
    "background": "background responses are not available through this router",
    "prompt": "stored prompts are not available through this router",
    "max_tool_calls": "the router does not limit built-in tool calls (it runs none)",
    "top_logprobs": "log probabilities are not returned on /v1/responses",
    "prompt_cache_key": "prompt cache keys are not carried by this router",
    "prompt_cache_retention": "prompt cache retention is not carried by this router",
    "prompt_cache_options": "prompt cache options are not carried by this router",
    "safety_identifier": "use 'user' for the end user's id",
    "context_management": "context management is not available through this router",
    "moderation": "moderation is not available through this router",
    "access_programs": "access programs are not available through this router",
    "background_options": "background responses are not available through this router",
    "image": "image options are not available through this router",
}
_TOOL_KEYS: Final = frozenset(("type", "name", "description", "parameters", "strict"))
_TEXT_KEYS: Final = frozenset(("format", "verbosity"))
_FORMAT_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "text": frozenset(("type",)),
    "json_object": frozenset(("type",)),
    "json_schema": frozenset(("type", "name", "schema", "description", "strict")),
}
_REASONING_KEYS: Final = frozenset(("effort", "summary", "generate_summary"))
_STREAM_OPTIONS_KEYS: Final = frozenset(("include_obfuscation",))


@dataclass(frozen=True)
class ParsedResponses:
    """A validated Responses request: the router's ChatRequest, ``stream``, and the request's
    settings a ``response`` object repeats (``instructions``, ``tools``, ``text``...)."""

    chat: chat_pb2.ChatRequest
    stream: bool
    echo: dict[str, Any] = field(default_factory=dict)

    @property
    def parsed(self) -> ParsedRequest:
        """As a chat request (for the shared router calls and error mapping)."""
        return ParsedRequest(self.chat, self.stream, include_usage=False)


def parse_responses_request(
    body: Any,
    *,
    client_request_id: str = "",
    source: str | None = None,
    api_key_id: str | None = None,
    team_id: str = "",
    cache: str | None = None,
) -> ParsedResponses:
    """Validate a decoded ``/v1/responses`` body. InvalidRequest names the field. The other
    arguments are as for :func:`gateway.translate.parse_chat_request`."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", None)
    obj: dict[str, Any] = body
    for key in obj:
        if key in REFUSED_FIELDS:
            if obj[key] is None:
                continue
            raise InvalidRequest(f"Unsupported parameter: '{key}': {REFUSED_FIELDS[key]}.", key)
        if key not in RESPONSES_FIELDS:
            raise InvalidRequest(
                f"Unrecognized request argument supplied: '{key}'. Provider-specific extras go "
                "in 'llmrouter.extra_body'.",
                key,
            )
    chat = chat_pb2.ChatRequest(client_request_id=client_request_id, front_door=RESPONSES)
    chat.model = expect_str(required(obj, "model"), "model", non_empty=True)
    echo: dict[str, Any] = {}
    if (instructions := optional_str(obj, "instructions")) is not None:
        echo["instructions"] = instructions
        if instructions:
            chat.messages.append(chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content=instructions))
    chat.messages.extend(parse_input(required(obj, "input")))
    echo["tools"] = _tools(obj, chat)
    echo["tool_choice"] = _tool_choice(obj.get("tool_choice"), {t["name"] for t in echo["tools"]})
    if obj.get("tool_choice") is not None:
        _set_tool_choice(echo["tool_choice"], chat)
    limit = optional_int(obj, "max_output_tokens", within=chat_rules.MAX_TOKENS)
    if limit is not None:
        chat.max_completion_tokens = limit
        echo["max_output_tokens"] = limit
    if (
        temperature := optional_number(obj, "temperature", within=chat_rules.TEMPERATURE)
    ) is not None:
        chat.temperature = echo["temperature"] = temperature
    if (top_p := optional_number(obj, "top_p", within=chat_rules.TOP_P)) is not None:
        chat.top_p = echo["top_p"] = top_p
    if (parallel := optional_bool(obj, "parallel_tool_calls")) is not None:
        chat.parallel_tool_calls = parallel
    echo["parallel_tool_calls"] = True if parallel is None else parallel
    echo["text"] = _text(obj, chat)
    echo["reasoning"] = _reasoning(obj, chat)
    if obj.get("service_tier") is not None:
        chat.service_tier = expect_one_of(
            obj["service_tier"], "service_tier", chat_rules.SERVICE_TIERS
        )
        echo["service_tier"] = chat.service_tier
    if (user := optional_str(obj, "user")) is not None:
        chat.user = echo["user"] = check_length(user, "user", field_limits.USER_MAX_CHARS)
    if obj.get("metadata") is not None:
        metadata = expect_string_map(
            obj["metadata"],
            "metadata",
            max_pairs=field_limits.METADATA_MAX_PAIRS,
            max_key_length=field_limits.METADATA_KEY_MAX_CHARS,
            max_value_length=field_limits.METADATA_VALUE_MAX_CHARS,
        )
        chat.metadata.update(metadata)
        echo["metadata"] = metadata
    _stateless(obj)
    caller_headers(chat, source=source, api_key_id=api_key_id, team_id=team_id, cache=cache)
    if (extension := optional_object(obj, "llmrouter")) is not None:
        router_extension(extension, chat)
    stream = optional_bool(obj, "stream") or False
    if (options := optional_object(obj, "stream_options")) is not None:
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )
        check_keys(options, _STREAM_OPTIONS_KEYS, "stream_options")
        obfuscation = optional_bool(options, "include_obfuscation", "stream_options")
        if obfuscation is not None:
            chat.include_obfuscation = obfuscation
    return ParsedResponses(chat, stream, echo)


def _stateless(obj: Mapping[str, Any]) -> None:
    """``store``, ``truncation`` and ``include``: taken only with the values that ask for
    nothing this gateway does not do."""
    if optional_bool(obj, "store"):
        raise InvalidRequest(
            "Unsupported parameter: 'store': stored responses are not enabled on this gateway; "
            "leave 'store' out or set it to false.",
            "store",
        )
    if obj.get("truncation") is not None:
        truncation = expect_one_of(obj["truncation"], "truncation", ("auto", "disabled"))
        if truncation != "disabled":
            raise InvalidRequest(
                "Unsupported value: 'truncation' 'auto': the router does not truncate the "
                "input; a prompt too long for every model is refused instead.",
                "truncation",
            )
    if obj.get("include") is not None:
        for i, value in enumerate(expect_list(obj["include"], "include")):
            param = join("include", i)
            expect_str(value, param)
            raise InvalidRequest(
                f"Unsupported value: '{param}': additional output data ('{value}') is not "
                "available through this router.",
                param,
            )


def _tools(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> list[dict[str, Any]]:
    """``tools``: function tools (``name``, ``description``, ``parameters``, ``strict``); any
    other type (hosted tools: web search, file search, computer use, MCP...) is refused by path.
    ``strict`` left out or null is not strict (the reference's default is true; the router
    passes strict mode only when asked, as upstreams refuse it for schemas that do not allow
    it). Returns the tools as the answer repeats them."""
    if obj.get("tools") is None:
        return []
    echoed: list[dict[str, Any]] = []
    for i, raw in enumerate(expect_list(obj["tools"], "tools")):
        param = join("tools", i)
        given = expect_object(raw, param)
        type_param = join(param, "type")
        kind = expect_str(required(given, "type", param), type_param)
        if kind != "function":
            raise InvalidRequest(
                f"Invalid value for '{type_param}': tools of type '{kind}' are not available "
                "through this router; only 'function' tools.",
                type_param,
            )
        check_keys(given, _TOOL_KEYS, param)
        name_param = join(param, "name")
        name = expect_str(required(given, "name", param), name_param, non_empty=True)
        if any(tool.name == name for tool in chat.tools):
            raise InvalidRequest(
                f"Invalid '{name_param}': duplicate tool name '{name}'.", name_param
            )
        tool = chat_pb2.Tool(name=name)
        description = optional_str(given, "description", param)
        if description is not None:
            tool.description = description
        parameters = optional_object(given, "parameters", param)
        if parameters is not None:
            tool.parameters_json = json_text(parameters, join(param, "parameters"))
        tool.strict = optional_bool(given, "strict", param) or False
        chat.tools.append(tool)
        echoed.append(
            {
                "type": "function",
                "name": name,
                "description": description,
                "parameters": parameters,
                "strict": tool.strict,
            }
        )
    return echoed


def _tool_choice(value: Any, tool_names: set[str]) -> Any:
    """``tool_choice`` as the answer repeats it: ``none``, ``auto``, ``required`` or
    ``{"type": "function", "name"}`` (a name of ``tools``)."""
    if value is None:
        return "auto"
    if isinstance(value, str):
        mode = expect_one_of(value, "tool_choice", ("none", "auto", "required"))
        if mode == "required" and not tool_names:
            raise InvalidRequest(
                "Invalid value for 'tool_choice': 'required' needs at least one tool in 'tools'.",
                "tool_choice",
            )
        return mode
    choice = expect_object(value, "tool_choice")
    type_param = "tool_choice.type"
    kind = expect_str(required(choice, "type", "tool_choice"), type_param)
    if kind != "function":
        raise InvalidRequest(
            f"Invalid value for '{type_param}': '{kind}' is not supported by this router; use "
            "'none', 'auto', 'required' or {'type': 'function', 'name': ...}.",
            type_param,
        )
    check_keys(choice, frozenset(("type", "name")), "tool_choice")
    name = expect_str(required(choice, "name", "tool_choice"), "tool_choice.name", non_empty=True)
    if name not in tool_names:
        raise InvalidRequest(
            f"Invalid value for 'tool_choice.name': no function named '{name}' in 'tools'.",
            "tool_choice.name",
        )
    return {"type": "function", "name": name}


def _set_tool_choice(choice: Any, chat: chat_pb2.ChatRequest) -> None:
    if isinstance(choice, str):
        chat.tool_choice.mode = chat_rules.TOOL_CHOICE_MODES[choice]
    else:
        chat.tool_choice.function_name = choice["name"]


def _text(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> dict[str, Any]:
    """``text.format``: ``text``, ``json_object`` or ``json_schema`` (``name``, ``schema``,
    ``description``, ``strict``) as the response format; ``text.verbosity`` is refused (the
    router carries none). Returns ``text`` as the answer repeats it."""
    if (text := optional_object(obj, "text")) is None:
        return {"format": {"type": "text"}}
    check_keys(text, _TEXT_KEYS, "text")
    if text.get("verbosity") is not None:
        raise InvalidRequest(
            "Unsupported parameter: 'text.verbosity' is not supported by this router.",
            "text.verbosity",
        )
    if (given := optional_object(text, "format", "text")) is None:
        return {"format": {"type": "text"}}
    param = "text.format"
    kind = expect_one_of(required(given, "type", param), join(param, "type"), _FORMAT_KEYS)
    check_keys(given, _FORMAT_KEYS[kind], param)
    chat.response_format.type = chat_rules.RESPONSE_FORMATS[kind]
    if kind != "json_schema":
        return {"format": {"type": kind}}
    schema: dict[str, Any] = {
        "name": expect_str(required(given, "name", param), join(param, "name"), non_empty=True),
        "schema": expect_object(required(given, "schema", param), join(param, "schema")),
    }
    if (description := optional_str(given, "description", param)) is not None:
        schema["description"] = description
    if (strict := optional_bool(given, "strict", param)) is not None:
        schema["strict"] = strict
    # Chat completions' json_schema object: {name, schema, description?, strict?}.
    chat.response_format.json_schema = json_text(schema, join(param, "schema"))
    return {"format": {"type": "json_schema", **schema}}


def _reasoning(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> dict[str, Any] | None:
    """``reasoning.effort`` as the reasoning effort; a summary is refused (the router returns
    a model's reasoning as it comes, and asks for no summary)."""
    if (reasoning := optional_object(obj, "reasoning")) is None:
        return None
    check_keys(reasoning, _REASONING_KEYS, "reasoning")
    for key in ("summary", "generate_summary"):
        if reasoning.get(key) is not None:
            param = join("reasoning", key)
            raise InvalidRequest(
                f"Unsupported parameter: '{param}': reasoning summaries are not available "
                "through this router (a model's own reasoning text comes as a reasoning item).",
                param,
            )
    effort = None
    if reasoning.get("effort") is not None:
        effort = expect_one_of(
            reasoning["effort"], "reasoning.effort", chat_rules.REASONING_EFFORTS
        )
        chat.reasoning_effort = effort
    return {"effort": effort, "summary": None}
