"""Tool calls as the official ``openai`` package assembles them (issue 16: tool calls with
valid JSON arguments), through the real gateway, router and metrics processes.

Parallel calls streamed by an OpenAI-compatible server without ``index`` (Gemini's endpoint)
or with every call at index 0 reach the client as two calls, each with its own id and valid
JSON arguments, as OpenAI's own numbering does; arguments sent as JSON objects reach it as
JSON text, whole and streamed; an Anthropic stream's delta for a block that never started
adds nothing to the answer.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes import Behavior, FakeUpstream

from .conftest import Stack
from .test_request_fields_parts import KEY, SCHEMA, fake, stack

__all__ = ["fake", "stack"]  # the fixtures: three models, one per provider kind

ASK: Any = [{"role": "user", "content": "Weather in Paris and Rome?"}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
PARIS, ROME = {"city": "Paris"}, {"city": "Rome"}
# (row, how the OpenAI-compatible upstream sends two parallel calls).
ROWS = [
    ("openai", Behavior(more_tool_calls=(ROME,))),
    ("gemini-one-per-chunk", Behavior(more_tool_calls=(ROME,), tool_call_index="absent")),
    (
        "gemini-together",
        Behavior(more_tool_calls=(ROME,), tool_call_index="absent", tool_calls_together=True),
    ),
    ("index-always-zero", Behavior(more_tool_calls=(ROME,), tool_call_index="zero")),
    ("arguments-objects", Behavior(more_tool_calls=(ROME,), tool_arguments_object=True)),
]


def sdk(stack: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)


def calls(message: Any) -> list[tuple[str, str, Any]]:
    """(id, name, parsed arguments) of each call; parsing fails on invalid JSON."""
    return [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or ()
    ]


async def test_parallel_calls_reach_the_sdk_as_distinct_calls(
    stack: Stack, fake: FakeUpstream
) -> None:
    client = sdk(stack)
    for row, behavior in ROWS:
        fake.set("o-mini", behavior)
        async with client.chat.completions.stream(
            model="o-mini", messages=ASK, tools=TOOLS
        ) as stream:
            final = await stream.get_final_completion()
        got = calls(final.choices[0].message)
        assert [(name, arguments) for _, name, arguments in got] == [
            ("get_weather", PARIS),
            ("get_weather", ROME),
        ], row
        assert len({call_id for call_id, _, _ in got}) == 2, row
        assert final.choices[0].finish_reason == "tool_calls", row

        # Whole, the same calls (their ids are the next request's).
        reply = await client.chat.completions.create(model="o-mini", messages=ASK, tools=TOOLS)
        whole = calls(reply.choices[0].message)
        assert [call[1:] for call in whole] == [call[1:] for call in got], row
        assert len({call[0] for call in whole}) == 2, row
    await client.close()


async def test_an_anthropic_delta_for_a_block_never_started_adds_nothing(
    stack: Stack, fake: FakeUpstream
) -> None:
    # The trial's stream: text in block 0, tool input for block 7 (no tools were offered).
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok "}},
        {
            "type": "content_block_delta",
            "index": 7,
            "delta": {"type": "input_json_delta", "partial_json": "{"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "fine"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    fake.set("claude", Behavior(raw_body=body.encode()))
    client = sdk(stack)
    async with client.chat.completions.stream(model="claude", messages=ASK) as stream:
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert (message.content, message.tool_calls) == ("ok fine", None)
    assert final.choices[0].finish_reason == "stop"
    await client.close()


@pytest.mark.parametrize("arguments", [5, True], ids=["number", "boolean"])
async def test_arguments_that_are_not_json_text_fail_over_whole_and_streamed(
    stack: Stack, fake: FakeUpstream, arguments: Any
) -> None:
    # o-mini's upstream sends arguments no client can read; the chain's next model answers.
    call = {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": 1}}
    call["function"]["arguments"] = arguments
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    whole = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    chunk = {"choices": [{"index": 0, "delta": {**message, "tool_calls": [{"index": 0, **call}]}}]}
    client = sdk(stack)
    fallback: Any = {"models": ["llama"]}
    for body in (json.dumps(whole), f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"):
        fake.set("o-mini", Behavior(raw_body=body.encode()))
        if body.startswith("data:"):
            async with client.chat.completions.stream(
                model="o-mini", messages=ASK, tools=TOOLS, extra_body=fallback
            ) as stream:
                final = await stream.get_final_completion()
        else:
            final = await client.chat.completions.create(
                model="o-mini", messages=ASK, tools=TOOLS, extra_body=fallback
            )
        assert final.model == "llama", body
        assert calls(final.choices[0].message)[0][1:] == ("get_weather", PARIS), body
    await client.close()
