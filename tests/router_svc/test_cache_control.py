"""``cache_control`` (prompt caching) per provider kind (issue 16: nothing a client sends is
dropped in silence): on the block it marks for Anthropic (Messages API reference; "Prompt
caching": tools, system text blocks, and text, image, tool_use and tool_result blocks take it),
where the client put it for OpenAI-compatible upstreams (OpenRouter's and LiteLLM's shape),
refused naming its path for Ollama, which has no prompt caching to ask for."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.v1 import chat_pb2
from router_svc.chat import CacheControl, ChatRequest, ContentPart, Message, Tool, ToolCall
from router_svc.errors import InvalidRequest
from router_svc.providers import ProviderCall
from router_svc.translate import chat_from_proto

from .test_stream_parsers import PROVIDERS

FIVE = CacheControl()
HOUR = CacheControl(ttl="1h")
WEATHER = Tool("get_weather", parameters_json='{"type":"object"}')


def body(kind: str, *messages: Message, tools: tuple[Tool, ...] = ()) -> dict[str, Any]:
    request = ChatRequest(model="m", messages=messages, tools=tools)
    assert PROVIDERS[kind].refuses(request) == ""
    return PROVIDERS[kind].encode(ProviderCall("m", request, 5.0), stream=False)


def test_anthropic_marks_the_block_of_a_part_or_the_last_block_of_a_message() -> None:
    sent = body(
        "anthropic",
        Message("user", parts=(ContentPart(text="big doc", cache_control=HOUR), ContentPart("?"))),
        Message("assistant", "Let me look.", tool_calls=(ToolCall("t1", "get_weather", "{}"),)),
        Message("tool", "sunny", tool_call_id="t1", cache_control=FIVE),
        Message("user", "And tomorrow?", cache_control=FIVE),
        tools=(Tool("get_weather", cache_control=FIVE),),
    )
    first, answer, results = sent["messages"]
    assert first["content"] == [
        {"type": "text", "text": "big doc", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "?"},
    ]
    assert "cache_control" not in str(answer)
    # The tool result and the next user turn merge into one user message, each block marked.
    assert results["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "content": "sunny",
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "text", "text": "And tomorrow?", "cache_control": {"type": "ephemeral"}},
    ]
    assert sent["tools"][0]["cache_control"] == {"type": "ephemeral"}


def test_anthropic_marks_an_assistant_message_on_its_last_tool_use() -> None:
    sent = body(
        "anthropic",
        Message("user", "Weather?"),
        Message(
            "assistant",
            "Looking.",
            tool_calls=(ToolCall("t1", "get_weather", '{"city":"Paris"}'),),
            cache_control=HOUR,
        ),
        Message("tool", "sunny", tool_call_id="t1"),
    )
    text, call = sent["messages"][1]["content"]
    assert "cache_control" not in text
    assert call["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_anthropic_system_prompt_becomes_blocks_only_when_marked() -> None:
    rules, style = Message("system", "Rules."), Message("developer", "Be brief.")
    plain = body("anthropic", rules, style, Message("user", "Hi"))
    assert plain["system"] == "Rules.\n\nBe brief."
    marked = body(
        "anthropic", Message("system", "Rules.", cache_control=FIVE), style, Message("user", "Hi")
    )
    assert marked["system"] == [
        {"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."},
    ]
    parts = body(
        "anthropic",
        Message("system", parts=(ContentPart("A."), ContentPart("B.", cache_control=HOUR))),
        Message("user", "Hi"),
    )
    assert parts["system"] == [
        {"type": "text", "text": "A."},
        {"type": "text", "text": "B.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]


def test_anthropic_marks_an_image() -> None:
    image = ContentPart(image_url="https://x.test/a.png", cache_control=FIVE)
    sent = body("anthropic", Message("user", parts=(image,)))
    assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_openai_compatible_gets_cache_control_where_the_client_put_it() -> None:
    sent = body(
        "openai",
        Message("system", "Rules.", cache_control=FIVE),
        Message("user", parts=(ContentPart("big doc", cache_control=HOUR), ContentPart("?"))),
        tools=(Tool("get_weather", cache_control=FIVE),),
    )
    assert sent["messages"] == [
        {"role": "system", "content": "Rules.", "cache_control": {"type": "ephemeral"}},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "big doc",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
                {"type": "text", "text": "?"},
            ],
        },
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather"},
            "cache_control": {"type": "ephemeral"},
        }
    ]


def test_no_cache_control_no_key() -> None:
    for kind in ("openai", "anthropic"):
        sent = body(kind, Message("system", "Rules."), Message("user", "Hi"), tools=(WEATHER,))
        assert "cache_control" not in str(sent), kind


MARKED = [
    (
        Message("user", parts=(ContentPart("doc", cache_control=FIVE),)),
        (),
        "messages[0].content[0]",
    ),
    (Message("user", "doc", cache_control=FIVE), (), "messages[0]"),
    (Message("user", "doc"), (Tool("get_weather", cache_control=FIVE),), "tools[0]"),
]


@pytest.mark.parametrize(("message", "tools", "where"), MARKED)
def test_ollama_refuses_cache_control_naming_it(
    message: Message, tools: tuple[Tool, ...], where: str
) -> None:
    request = ChatRequest(model="m", messages=(message,), tools=tools)
    assert PROVIDERS["ollama"].refuses(request) == f"{where}.cache_control"
    assert PROVIDERS["anthropic"].refuses(request) == ""
    assert PROVIDERS["openai"].refuses(request) == ""


@pytest.mark.parametrize(
    ("message", "where"),
    [
        # "Prompt caching": empty text blocks cannot be cached; the codec makes no block of them.
        (
            Message("user", parts=(ContentPart("doc"), ContentPart("", cache_control=FIVE))),
            "messages[0].content[1]",
        ),
        (Message("user", "", cache_control=FIVE), "messages[0]"),
    ],
)
def test_anthropic_refuses_a_mark_with_no_block_to_go_on(message: Message, where: str) -> None:
    request = ChatRequest(model="m", messages=(message,))
    assert PROVIDERS["anthropic"].refuses(request) == f"{where}.cache_control"


@pytest.mark.parametrize(
    ("cache", "field"),
    [
        (chat_pb2.CacheControl(type="persistent"), "type"),
        (chat_pb2.CacheControl(), "type"),
        (chat_pb2.CacheControl(type="ephemeral", ttl="24h"), "ttl"),
    ],
)
def test_the_router_refuses_a_cache_control_anthropic_does_not_define(
    cache: chat_pb2.CacheControl, field: str
) -> None:
    part = chat_pb2.ContentPart(text="doc", cache_control=cache)
    chat = chat_pb2.ChatRequest(
        model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content_parts=[part])]
    )
    with pytest.raises(InvalidRequest) as raised:
        chat_from_proto(chat)
    assert raised.value.field == f"chat.messages[0].content_parts[0].cache_control.{field}"


def test_the_router_reads_cache_control_on_parts_messages_and_tools() -> None:
    hour = chat_pb2.CacheControl(type="ephemeral", ttl="1h")
    chat = chat_pb2.ChatRequest(
        model="m",
        messages=[
            chat_pb2.Message(
                role=chat_pb2.ROLE_USER,
                content_parts=[chat_pb2.ContentPart(text="doc", cache_control=hour)],
                cache_control=chat_pb2.CacheControl(type="ephemeral"),
            )
        ],
        tools=[chat_pb2.Tool(name="f", cache_control=hour)],
    )
    request = chat_from_proto(chat)
    assert request.messages[0].parts[0].cache_control == HOUR
    assert request.messages[0].cache_control == FIVE
    assert request.tools[0].cache_control == HOUR


def test_a_continued_message_cannot_carry_cache_control() -> None:
    # The continued text becomes the prefill, not a message a mark could go on.
    marked = chat_pb2.Message(
        role=chat_pb2.ROLE_ASSISTANT,
        content="So far",
        cache_control=chat_pb2.CacheControl(type="ephemeral"),
    )
    chat = chat_pb2.ChatRequest(
        model="m",
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="Count"), marked],
        continue_final_message=True,
    )
    with pytest.raises(InvalidRequest) as raised:
        chat_from_proto(chat)
    assert raised.value.field == "chat.continue_final_message"
