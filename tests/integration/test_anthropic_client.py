"""The official ``anthropic`` package, unchanged, against the real gateway, router and metrics
processes (``base_url`` = the gateway): the Messages API front door served by an
OpenAI-compatible model, an Anthropic model and an Ollama model, each behind the fake upstream
that speaks its provider's reference; failover through ``/v1/messages``; the ledger rows say
``front_door = "messages"``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-canary-0123456789"
# One model per provider kind, all answered by the same fake upstream (each kind at its path).
MODELS = ("gpt-fake", "claude-fake", "llama-fake")
TOOLS: Any = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["gpt-fake", "claude-fake"]
[[router.providers]]
name = "openai-fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.providers]]
name = "anthropic-fake"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "LLMROUTER_TEST_ANTHROPIC_KEY"
[[router.providers]]
name = "ollama-fake"
kind = "ollama"
base_url = "{fake.base_url}"
"""
    for name, provider in zip(
        MODELS, ("openai-fake", "anthropic-fake", "ollama-fake"), strict=True
    ):
        providers += f"""
[[router.models]]
name = "{name}"
provider = "{provider}"
tools = true
input_price_per_million = 1.0
output_price_per_million = 2.0
"""
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}",
        "LLMROUTER_TEST_ANTHROPIC_KEY": "test-key-not-secret",
    }
    async with started(write_config(tmp_path, providers, "auth_enabled = true"), env) as running:
        yield running


def client(stack: Stack, key: str = KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=stack.url, api_key=key, max_retries=0)


@pytest.mark.parametrize("model", MODELS)
async def test_plain_stream_and_tools_through_every_provider_kind(
    stack: Stack, fake: FakeUpstream, model: str
) -> None:
    sdk = client(stack)
    reply = await sdk.messages.create(
        model=model,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello, how are you?"}],
    )
    assert reply.type == "message"
    assert reply.model == model
    assert reply.id.startswith("msg_")
    assert [block.type for block in reply.content] == ["text"]
    assert reply.content[0].text == f"Hello from {model}."  # type: ignore[union-attr]
    assert reply.stop_reason == "end_turn"
    assert reply.usage.output_tokens == 4
    assert reply.usage.input_tokens > 0

    async with sdk.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == f"Hello from {model}."
    assert final.content[0].text == f"Hello from {model}."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4
    assert final.usage.input_tokens > 0

    call = await sdk.messages.create(
        model=model,
        max_tokens=100,
        tools=TOOLS,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert call.stop_reason == "tool_use"
    tool_use = call.content[-1]
    assert tool_use.type == "tool_use"
    assert (tool_use.name, tool_use.input) == ("get_weather", {"city": "Paris"})
    answer = await sdk.messages.create(
        model=model,
        max_tokens=100,
        tools=TOOLS,
        tool_choice={"type": "none"},
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            # The answer's blocks as the SDK hands them back (pydantic models).
            {"role": "assistant", "content": call.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "Sunny, 21C"}
                ],
            },
        ],
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == f"Hello from {model}."  # type: ignore[union-attr]
    sent = fake.requests[-1].json
    assert "Sunny, 21C" in json.dumps(sent)  # the tool result reached the upstream

    async with sdk.messages.stream(
        model=model, max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": "Paris?"}]
    ) as stream:
        streamed = await stream.get_final_message()
    assert streamed.stop_reason == "tool_use"
    assert streamed.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]


async def test_typed_errors(stack: Stack, fake: FakeUpstream) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.AuthenticationError) as auth:
        await client(stack, key="sk-wrong").messages.create(
            model="gpt-fake", max_tokens=10, messages=messages
        )
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as missing:
        await client(stack).messages.create(model="no-such-model", max_tokens=10, messages=messages)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        await client(stack).messages.create(
            model="gpt-fake", max_tokens=10, messages=messages, extra_body={"top_k": 5}
        )
    assert "top_k" in bad.value.message
    fake.set(None, Behavior(status=429, retry_after="30"))
    with pytest.raises(anthropic.RateLimitError) as limited:
        await client(stack).messages.create(model="claude-fake", max_tokens=10, messages=messages)
    assert limited.value.response.headers["retry-after"] == "30"
    assert limited.value.request_id == limited.value.response.headers["request-id"]


async def test_failover_through_messages_and_the_ledger_names_the_door(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.set("gpt-fake", Behavior(status=503))
    reply = await client(stack).messages.create(
        model="auto", max_tokens=50, messages=[{"role": "user", "content": "Hello"}]
    )
    assert reply.model == "claude-fake"
    assert reply.content[0].text == "Hello from claude-fake."  # type: ignore[union-attr]
    assert fake.calls("gpt-fake") >= 1
    rows: list[tuple[str, str, str]] = []
    async with asyncio.timeout(30):
        while len(rows) < 2:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT model, status, front_door FROM usage_records ORDER BY attempt"
                ).fetchall()
    assert rows[0][:2] == ("gpt-fake", "failed")
    assert rows[-1] == ("claude-fake", "succeeded", "messages")
    assert {door for _, _, door in rows} == {"messages"}


async def test_count_tokens_and_the_raw_event_order(stack: Stack) -> None:
    counted = await client(stack).messages.count_tokens(
        model="claude-fake", messages=[{"role": "user", "content": "Hello there, friend"}]
    )
    assert counted.input_tokens > 0
    body = {
        "model": "llama-fake",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{stack.url}/v1/messages", json=body, headers=headers)
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    deltas = names.count("content_block_delta")
    assert deltas >= 1
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
