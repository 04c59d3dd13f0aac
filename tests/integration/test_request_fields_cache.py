"""Issue 16, "Request fields": ``cache_control`` (prompt caching) on a content part, a message
or a tool reaches an Anthropic model on the block it marks and an OpenAI-compatible one where
the client put it; an Ollama model, which has no prompt caching, is skipped, and when no model
of the chain is left the client gets a 400 naming the field. A key the router does not take
inside a message, part, tool or ``stream_options`` is a 400 naming its path, never dropped.

Real gateway, router and metrics processes; the fake upstream records the exact upstream body.
"""

from __future__ import annotations

from typing import Any

from tests.fakes import FakeUpstream

from .conftest import Stack
from .test_request_fields_parts import SCHEMA, fake, post, refused, sent, stack

__all__ = ["fake", "stack"]  # the fixtures: three models, one per provider kind

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
DOC = [
    {"role": "system", "content": "You answer from the document.", "cache_control": EPHEMERAL},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "The document, long.", "cache_control": HOUR},
            {"type": "text", "text": "What does it say?"},
        ],
    },
]
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": SCHEMA},
        "cache_control": EPHEMERAL,
    }
]


async def test_cache_control_reaches_anthropic_on_the_blocks_it_marks(
    stack: Stack, fake: FakeUpstream
) -> None:
    answer = await post(stack, model="claude", messages=DOC, tools=TOOLS)
    assert answer.status_code == 200, answer.text
    body = sent(fake)
    assert body["system"] == [
        {"type": "text", "text": "You answer from the document.", "cache_control": EPHEMERAL}
    ]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "The document, long.", "cache_control": HOUR},
        {"type": "text", "text": "What does it say?"},
    ]
    assert body["tools"][0]["cache_control"] == EPHEMERAL


async def test_cache_control_reaches_openai_compatible_models_as_given(
    stack: Stack, fake: FakeUpstream
) -> None:
    answer = await post(stack, model="o-mini", messages=DOC, tools=TOOLS)
    assert answer.status_code == 200, answer.text
    body = sent(fake)
    assert body["messages"] == DOC
    assert body["tools"] == TOOLS


async def test_ollama_is_skipped_and_alone_refuses_naming_the_field(
    stack: Stack, fake: FakeUpstream
) -> None:
    for messages, tools, param in (
        (DOC[1:], None, "messages[0].content[0].cache_control"),
        ([*DOC[:1], {"role": "user", "content": "Hi"}], None, "messages[0].cache_control"),
        ([{"role": "user", "content": "Hi"}], TOOLS, "tools[0].cache_control"),
    ):
        fields: dict[str, Any] = {"messages": messages}
        if tools:
            fields["tools"] = tools
        calls = len(fake.requests)
        refused(await post(stack, model="llama", **fields), param)
        assert len(fake.requests) == calls, param
        # With an Anthropic model after it, that model serves the request, marks kept.
        answer = await post(stack, model="llama", models=["claude"], **fields)
        assert answer.status_code == 200, answer.text
        assert fake.requests[-1].path == "/v1/messages"
        assert "'cache_control'" in str(sent(fake)), param


async def test_nested_keys_not_taken_are_400s_naming_their_path(
    stack: Stack, fake: FakeUpstream
) -> None:
    user = {"role": "user", "content": "Hi"}
    calls = len(fake.requests)
    for model in ("o-mini", "claude", "llama"):
        for fields, param in (
            ({"messages": [{**user, "foo": 1}]}, "messages[0].foo"),
            (
                {
                    "messages": [
                        {"role": "user", "content": [{"type": "text", "text": "x", "foo": 1}]}
                    ]
                },
                "messages[0].content[0].foo",
            ),
            (
                {
                    "messages": [user],
                    "tools": [{"type": "function", "function": {"name": "f", "foo": 1}}],
                },
                "tools[0].function.foo",
            ),
            (
                {
                    "messages": [user],
                    "stream": True,
                    "stream_options": {"include_usage": True, "foo": 1},
                },
                "stream_options.foo",
            ),
        ):
            refused(await post(stack, model=model, **fields), param)
    assert len(fake.requests) == calls


async def test_what_an_answer_comes_back_with_is_not_forwarded(
    stack: Stack, fake: FakeUpstream
) -> None:
    # The openai SDK sends an answer's message back as it got it; what OpenAI's request
    # schema does not define there is taken and not sent upstream (DeepSeek refuses
    # reasoning_content in the history).
    echoed = {
        "role": "assistant",
        "content": "Hello!",
        "refusal": None,
        "reasoning_content": "The user greets me.",
        "annotations": [],
        "audio": None,
        "function_call": None,
    }
    for model in ("o-mini", "claude", "llama"):
        answer = await post(
            stack,
            model=model,
            messages=[
                {"role": "user", "content": "Hi"},
                echoed,
                {"role": "user", "content": "Bye"},
            ],
        )
        assert answer.status_code == 200, answer.text
        text = str(sent(fake)["messages"])
        for key in ("reasoning_content", "annotations", "audio", "function_call"):
            assert key not in text, (model, key)
