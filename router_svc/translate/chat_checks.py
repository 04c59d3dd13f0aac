"""Checks of ChatRequest fields that need more than one line, beside :mod:`.chat`."""

from __future__ import annotations

from llmrouter import field_limits
from llmrouter.v1 import chat_pb2

from ..chat import Message
from ..errors import InvalidRequest

__all__ = ["check_fallback_models", "continued_message"]


def check_fallback_models(chat: chat_pb2.ChatRequest, path: str) -> None:
    """At most FALLBACK_MODELS_MAX non-empty names of bounded length (llmrouter.field_limits);
    whether each one exists is the routing policy's question."""
    names = chat.fallback_models
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
    is an assistant message of text only, with something before it."""
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
    if len(messages) < 2:
        raise InvalidRequest(
            "continue_final_message needs a message before the one it continues", field=field
        )
    return messages[:-1], last.text()
