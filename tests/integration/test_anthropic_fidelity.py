"""The official ``openai`` package, through the real gateway, router and metrics processes, to
an Anthropic-kind model whose fake upstream answers as Anthropic's Messages API reference
allows (issue 16, inputs 2, 3 and 5): what the client sees and what the ledger bills."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-canary-0123456789"
# 56 pieces, one completion token each.
LONG = "token " * 56
# Issue 16's prices: $3 / $15 per million input / output tokens.
PRICES = "input_price_per_million = 3.0\noutput_price_per_million = 15.0"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["claude"]
[[router.providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "LLMROUTER_TEST_ANTHROPIC_KEY"
[[router.models]]
name = "claude"
provider = "anthropic"
tools = true
{PRICES}
"""
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}",
        "LLMROUTER_TEST_ANTHROPIC_KEY": "test-key-not-secret",
    }
    async with started(write_config(tmp_path, providers, "auth_enabled = true"), env) as running:
        yield running


async def usage_of(sdk: openai.AsyncOpenAI, **kwargs: Any) -> tuple[str, Any]:
    """(text or tool arguments, usage) of one streamed answer with usage asked for."""
    stream = await sdk.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )
    parts: list[str] = []
    usage = None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            parts.extend(c.function.arguments or "" for c in choice.delta.tool_calls or ())
    return "".join(parts), usage


async def test_usage_and_tool_arguments_as_the_reference_allows(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    fake.set(
        "claude",
        Behavior(start_usage="zero", prompt_tokens=1234, chunks=56, text=LONG),
        Behavior(start_usage="absent", prompt_tokens=1234, chunks=56, text=LONG),
        Behavior(prompt_tokens=12, cache_read_tokens=2000),
        Behavior(prompt_tokens=12, cache_read_tokens=2000),
        Behavior(tool_arguments={}),
    )
    # Input 2: the input counts only in message_delta (message_start: 0, then none at all).
    for _ in range(2):
        text, usage = await usage_of(sdk)
        assert text == LONG
        assert (usage.prompt_tokens, usage.completion_tokens) == (1234, 56)
    # Input 3: 12 uncached + 2000 cached prompt tokens, unary and streamed.
    reply = await sdk.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "Hello"}]
    )
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 2012
    _, usage = await usage_of(sdk)
    assert usage.prompt_tokens == 2012
    # Input 5: a tool that takes no parameters.
    tool: Any = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    arguments, _ = await usage_of(sdk, tools=[tool])
    assert json.loads(arguments) == {}

    rows: list[tuple[int, int, float]] = []
    async with asyncio.timeout(30):
        while len(rows) < 5:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT prompt_tokens, completion_tokens, cost_usd FROM usage_records"
                ).fetchall()
    billed = sorted(r for r in rows if r[0] > 1000)
    assert [r[:2] for r in billed] == [(1234, 56), (1234, 56), (2012, 4), (2012, 4)]
    assert [r[2] for r in billed[:2]] == [pytest.approx(0.004542)] * 2
