"""A tool result that reports the tool failed (``Message.is_error``, Anthropic's tool_result
``is_error``): sent as ``is_error: true`` to Anthropic models (Messages API reference, tool_result
block); OpenAI-compatible and Ollama models, whose tool messages have no such flag, get the text
alone; only tool messages may carry it."""

from __future__ import annotations

import pytest

from llmrouter.v1 import chat_pb2
from router_svc.chat import ChatRequest, Message, ToolCall
from router_svc.errors import InvalidRequest
from router_svc.providers import ProviderCall
from router_svc.translate import chat_from_proto

from .test_stream_parsers import PROVIDERS

HISTORY = (
    Message("user", "Weather?"),
    Message("assistant", tool_calls=(ToolCall("t1", "get_weather", "{}"),)),
)


def sent(kind: str, is_error: bool) -> str:
    result = Message("tool", "timed out", tool_call_id="t1", is_error=is_error)
    request = ChatRequest(model="m", messages=(*HISTORY, result))
    assert PROVIDERS[kind].refuses(request) == ""
    return str(PROVIDERS[kind].encode(ProviderCall("m", request, 5.0), stream=False))


@pytest.mark.parametrize("is_error", [True, False])
def test_anthropic_gets_is_error_only_when_set(is_error: bool) -> None:
    body = sent("anthropic", is_error)
    assert ("'is_error': True" in body) is is_error
    assert "timed out" in body


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_other_kinds_get_the_text(kind: str) -> None:
    assert "timed out" in sent(kind, True)
    assert "is_error" not in sent(kind, True)


def test_is_error_reads_from_the_contract_and_only_on_tool_messages() -> None:
    chat = chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_TOOL, tool_call_id="t1", is_error=True)]
    )
    assert chat_from_proto(chat).messages[0].is_error is True
    chat.messages[0].role = chat_pb2.ROLE_USER
    with pytest.raises(InvalidRequest) as info:
        chat_from_proto(chat)
    assert info.value.field == "chat.messages[0].is_error"
