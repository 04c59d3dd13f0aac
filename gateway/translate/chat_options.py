"""The OpenAI chat-completions fields beyond messages, tools and sampling: output limits,
logprobs, service tier, reasoning effort, parallel tool calls, and the fields we refuse.

Each field the router carries is checked here by OpenAI's rules (:mod:`llmrouter.chat_rules`)
and set on the ``ChatRequest``; the router then passes, translates or refuses it per provider
kind (README, "Request fields"). A field of OpenAI's request that the router does not carry is
refused with a 400 naming it, never ignored: a client that sets it expects an effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.translate.chat_fields import STREAM_OPTIONS_KEYS, check_keys
from gateway.validate import expect_one_of, optional_bool, optional_int, optional_object
from llmrouter import chat_rules
from llmrouter.v1 import chat_pb2

__all__ = ["parse_options", "parse_stream_options"]


def parse_options(obj: Mapping[str, Any], chat: chat_pb2.ChatRequest) -> None:
    """Set the fields above on ``chat`` from the body ``obj``; InvalidRequest names the param."""
    limit = optional_int(obj, "max_completion_tokens", within=chat_rules.MAX_TOKENS)
    if limit is not None:
        chat.max_completion_tokens = limit
    if (logprobs := optional_bool(obj, "logprobs")) is not None:
        chat.logprobs = logprobs
    top = optional_int(obj, "top_logprobs", within=chat_rules.TOP_LOGPROBS)
    if top is not None:
        if not logprobs:
            raise InvalidRequest(
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
                "'top_logprobs' is used.",
                "top_logprobs",
            )
        chat.top_logprobs = top
    for name, allowed in (
        ("service_tier", chat_rules.SERVICE_TIERS),
        ("reasoning_effort", chat_rules.REASONING_EFFORTS),
    ):
        if obj.get(name) is not None:
            setattr(chat, name, expect_one_of(obj[name], name, allowed))
    if (parallel := optional_bool(obj, "parallel_tool_calls")) is not None:
        chat.parallel_tool_calls = parallel
    for name in chat_rules.UNSUPPORTED_FIELDS:
        value = obj.get(name)
        default = chat_rules.UNSUPPORTED_DEFAULTS.get(name)
        # The type too: 0 == False in Python, not in JSON.
        if value is not None and not (type(value) is type(default) and value == default):
            raise InvalidRequest(
                f"Unsupported parameter: '{name}' is not supported by this router.", name
            )


def parse_stream_options(
    obj: Mapping[str, Any], chat: chat_pb2.ChatRequest, *, stream: bool
) -> bool:
    """``stream_options`` of the body ``obj`` (only with ``stream``): sets
    ``include_obfuscation`` on ``chat`` when given and returns ``include_usage`` (False when
    absent), which the gateway itself honours; InvalidRequest names the param, an unknown key
    of the object among them (``stream_options.foo``)."""
    if (options := optional_object(obj, "stream_options")) is None:
        return False
    if not stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    check_keys(options, STREAM_OPTIONS_KEYS, "stream_options")
    obfuscation = optional_bool(options, "include_obfuscation", "stream_options")
    if obfuscation is not None:
        chat.include_obfuscation = obfuscation
    return optional_bool(options, "include_usage", "stream_options") or False
