"""Checks of ChatRequest fields that need more than one line, beside :mod:`.chat`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmrouter import chat_rules, field_limits
from llmrouter.v1 import chat_pb2

from ..chat import Message
from ..errors import InvalidRequest

__all__ = [
    "check_fallback_models",
    "check_ledger_fields",
    "continued_message",
    "openai_options",
]


def openai_options(chat: chat_pb2.ChatRequest, path: str) -> dict[str, Any]:
    """The ChatRequest fields max_completion_tokens, logprobs, top_logprobs, service_tier,
    reasoning_effort and parallel_tool_calls as :class:`~router_svc.chat.ChatRequest` keyword
    arguments, checked by OpenAI's rules (llmrouter.chat_rules); InvalidRequest names the field."""
    options: dict[str, Any] = {}
    if chat.HasField("max_completion_tokens"):
        if chat.max_completion_tokens not in chat_rules.MAX_TOKENS:
            raise InvalidRequest(
                "max_completion_tokens must be positive", field=f"{path}.max_completion_tokens"
            )
        options["max_completion_tokens"] = chat.max_completion_tokens
    if chat.HasField("include_obfuscation"):
        options["include_obfuscation"] = chat.include_obfuscation
    if chat.HasField("logprobs"):
        options["logprobs"] = chat.logprobs
    if chat.HasField("top_logprobs"):
        if chat.top_logprobs not in chat_rules.TOP_LOGPROBS:
            raise InvalidRequest(
                f"top_logprobs must be in {chat_rules.TOP_LOGPROBS.interval()}",
                field=f"{path}.top_logprobs",
            )
        if not chat.logprobs:
            raise InvalidRequest(
                "top_logprobs needs logprobs set to true", field=f"{path}.top_logprobs"
            )
        options["top_logprobs"] = chat.top_logprobs
    for name, allowed in (
        ("service_tier", chat_rules.SERVICE_TIERS),
        ("reasoning_effort", chat_rules.REASONING_EFFORTS),
    ):
        value = getattr(chat, name)
        if value and value not in allowed:
            raise InvalidRequest(
                f"{name} must be one of {', '.join(allowed)}", field=f"{path}.{name}"
            )
        options[name] = value
    if chat.HasField("parallel_tool_calls"):
        options["parallel_tool_calls"] = chat.parallel_tool_calls
    return options


def check_fallback_models(names: Sequence[str], path: str) -> None:
    """``<path>.fallback_models``: at most FALLBACK_MODELS_MAX non-empty names of bounded
    length (llmrouter.field_limits); whether each one exists is the routing policy's question."""
    if len(names) > field_limits.FALLBACK_MODELS_MAX:
        raise InvalidRequest(
            f"{path}.fallback_models holds {len(names)} models; at most "
            f"{field_limits.FALLBACK_MODELS_MAX} are allowed",
            field=f"{path}.fallback_models",
        )
    for i, name in enumerate(names):
        if not name or len(name) > field_limits.MODEL_NAME_MAX_CHARS:
            raise InvalidRequest(
                f"{path}.fallback_models[{i}] must be a model name of 1 to "
                f"{field_limits.MODEL_NAME_MAX_CHARS} characters",
                field=f"{path}.fallback_models[{i}]",
            )


def continued_message(messages: tuple[Message, ...], path: str) -> tuple[tuple[Message, ...], str]:
    """For ``continue_final_message``: the messages without the final one, and its text (the
    prefill). InvalidRequest naming ``<path>.continue_final_message`` unless the final message
    is an assistant message of text only (no cache_control either), with something before
    it."""
    field = f"{path}.continue_final_message"
    last = messages[-1]
    if last.role != "assistant":
        raise InvalidRequest(
            f"continue_final_message needs an assistant message last, not a {last.role} message",
            field=field,
        )
    if last.tool_calls:
        raise InvalidRequest(
            "continue_final_message cannot continue a message with tool calls", field=field
        )
    if any(part.image_url for part in last.parts):
        raise InvalidRequest(
            "continue_final_message continues text only; the final message has an image",
            field=field,
        )
    if last.cache_control is not None or any(p.cache_control for p in last.parts):
        # The continued text is the prefill, not a message a breakpoint could go on.
        raise InvalidRequest(
            "continue_final_message cannot continue a message with cache_control", field=field
        )
    if len(messages) < 2:
        raise InvalidRequest(
            "continue_final_message needs a message before the one it continues", field=field
        )
    return messages[:-1], last.text()


# The ledger source of the response cache's hits (router_svc.cache.serving.CACHE_SOURCE).
RESERVED_SOURCE = "cache"
# The ledger source (and front door) of evaluation jobs' judge calls (router_svc.evaluation).
EVALUATION_SOURCE = "evaluation"
# Sources of the router's own rows, which a caller's rows must not pass for.
RESERVED_SOURCES = {
    RESERVED_SOURCE: "the response cache's rows",
    EVALUATION_SOURCE: "evaluation jobs' judge calls",
}


def check_ledger_fields(
    path: str, user: str, source: str, category: str, task_type: str, metadata: Mapping[str, str]
) -> None:
    """The client's free text that is stored with the usage (``<path>.user``,
    ``caller.source``, ``routing.category``, ``routing.task_type``, ``metadata``) stays within
    llmrouter.field_limits (the gateway checks the same; internal callers reach the router
    directly)."""
    for field, value, cap in (
        ("user", user, field_limits.USER_MAX_CHARS),
        ("caller.source", source, field_limits.SOURCE_MAX_CHARS),
        ("routing.category", category, field_limits.CATEGORY_MAX_CHARS),
        ("routing.task_type", task_type, field_limits.TASK_TYPE_MAX_CHARS),
    ):
        if len(value) > cap:
            raise InvalidRequest(
                f"{path}.{field} is longer than {cap} characters ({len(value)})",
                field=f"{path}.{field}",
            )
    if source in RESERVED_SOURCES:
        # The router labels rows of its own so; a caller's rows must not pass for them.
        raise InvalidRequest(
            f"{path}.caller.source '{source}' is reserved for {RESERVED_SOURCES[source]}",
            field=f"{path}.caller.source",
        )
    if len(metadata) > field_limits.METADATA_MAX_PAIRS:
        raise InvalidRequest(
            f"{path}.metadata holds {len(metadata)} pairs; at most "
            f"{field_limits.METADATA_MAX_PAIRS} are allowed",
            field=f"{path}.metadata",
        )
    for key, value in metadata.items():
        if len(key) > field_limits.METADATA_KEY_MAX_CHARS:
            raise InvalidRequest(
                f"{path}.metadata keys may hold at most {field_limits.METADATA_KEY_MAX_CHARS} "
                f"characters, got one of {len(key)}",
                field=f"{path}.metadata",
            )
        if len(value) > field_limits.METADATA_VALUE_MAX_CHARS:
            raise InvalidRequest(
                f"{path}.metadata values may hold at most {field_limits.METADATA_VALUE_MAX_CHARS} "
                f"characters, got one of {len(value)}",
                field=f"{path}.metadata[{key}]",
            )
