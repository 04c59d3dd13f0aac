"""The official ``openai`` package against the real gateway process, router and metrics."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, run_stack, write_config

KEY = "sk-test-canary-0123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["gpt-fake", "backup"]
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "gpt-fake"
provider = "fake"
tools = true
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "backup"
provider = "fake"
tools = true
input_price_per_million = 1.0
output_price_per_million = 2.0
"""
    config = write_config(tmp_path, providers, "auth_enabled = true")
    # The stack's processes run beside this test's event loop, which serves the fake upstream.
    iterator = run_stack(config, {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"})
    started = await asyncio.to_thread(next, iterator)
    yield started
    await asyncio.to_thread(next, iterator, None)


def client(stack: Stack, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)


async def test_plain_completion(stack: Stack) -> None:
    reply = await client(stack).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Hello, how are you?"}]
    )
    assert reply.choices[0].message.content == "Hello from gpt-fake."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gpt-fake"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 4


async def test_streamed_completion_with_usage(stack: Stack) -> None:
    stream = await client(stack).chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "Hello from gpt-fake."
    assert usage is not None
    assert usage.completion_tokens == 4
    assert usage.total_tokens == usage.prompt_tokens + 4


async def test_tool_call(stack: Stack) -> None:
    reply = await client(stack).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert reply.choices[0].finish_reason == "tool_calls"


async def test_typed_errors(stack: Stack, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError):
        await client(stack).chat.completions.create(model="auto", messages=[])
    with pytest.raises(openai.AuthenticationError):
        await client(stack, key="sk-wrong").chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.NotFoundError):
        await client(stack).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    fake.set(None, Behavior(status=429, retry_after="30"))
    with pytest.raises(openai.RateLimitError) as info:
        await client(stack).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.response.headers["retry-after"] == "30"


async def test_disconnect_mid_stream_cancels_upstream(stack: Stack, fake: FakeUpstream) -> None:
    fake.set("gpt-fake", Behavior(chunks=60, chunk_delay_s=0.1))
    body = {"model": "gpt-fake", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "POST",
            f"{stack.url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEY}"},
        ) as response,
    ):
        assert response.status_code == 200
        lines = 0
        async for line in response.aiter_lines():
            lines += bool(line)
            if lines == 3:
                break  # leave mid-stream
    await fake.wait_disconnects(1, within_s=5)
    assert fake.calls("gpt-fake") == 1


async def test_a_repeated_x_request_id_bills_every_request(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    # The SDK's _request_id is the server's id (x-request-id), as with OpenAI; the id the
    # client sent comes back as x-client-request-id and is only a label on the usage rows.
    sdk = client(stack)
    same = {"X-Request-Id": "sdk-same"}
    messages: Any = [{"role": "user", "content": "hi"}]
    replies = [
        await sdk.chat.completions.create(model="gpt-fake", messages=messages, extra_headers=same)
        for _ in range(3)
    ]
    stream = await sdk.chat.completions.create(
        model="gpt-fake", messages=messages, extra_headers=same, stream=True
    )
    chunk_ids = {chunk.id async for chunk in stream}

    ids = [r._request_id for r in replies] + [stream.response.headers["x-request-id"]]
    assert all(i is not None and re.fullmatch("[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == 4
    assert [r.id for r in replies] == [f"chatcmpl-{i}" for i in ids[:3]]
    assert chunk_ids == {f"chatcmpl-{ids[3]}"}
    assert stream.response.headers["x-client-request-id"] == "sdk-same"
    assert fake.calls("gpt-fake") == 4
    rows: list[tuple[str, str]] = []
    async with asyncio.timeout(30):
        while len(rows) < 4:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT id, client_request_id FROM usage_records WHERE model = 'gpt-fake'"
                ).fetchall()
    assert sorted(rows) == sorted((f"{i}:1", "sdk-same") for i in ids)
