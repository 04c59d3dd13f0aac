"""The official ``openai`` package, through the real gateway, router and metrics processes, to
an Anthropic-kind and an OpenAI-kind model whose fake upstreams report prompt-cache and
reasoning tokens as their API references do (issue 16, input 3; "Response fields" usage and
"Billing" cache rates): the client reads ``usage.prompt_tokens_details.cached_tokens``, the
ledger keeps the counts and prices them at the cache rates, ``llmrouter costs`` shows them."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-canary-0123456789"
READ_TOKEN = "local-read-token-0123456789"
GROUPED = ("--group-by", "model", "--csv")


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    # claude: no prices configured, so genai-prices' claude-sonnet-4-5 rates ($3 input, $0.30
    # cache read, $3.75 cache write, $15 output per million); gpt: configured rates.
    providers = f"""
default_chain = ["claude"]
[[router.providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "LLMROUTER_TEST_ANTHROPIC_KEY"
[[router.providers]]
name = "oai"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "claude"
provider = "anthropic"
upstream_model = "claude-sonnet-4-5"
[[router.models]]
name = "gpt"
provider = "oai"
input_price_per_million = 2.5
output_price_per_million = 10.0
cache_read_price_per_million = 1.25
"""
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}",
        "LLMROUTER_TEST_ANTHROPIC_KEY": "test-key-not-secret",
        "LLMROUTER_READ_TOKEN": READ_TOKEN,
    }
    async with started(write_config(tmp_path, providers, "auth_enabled = true"), env) as running:
        yield running


async def unary_and_streamed(sdk: openai.AsyncOpenAI, model: str) -> list[Any]:
    """The usage of one unary and one streamed answer, as the SDK parses them."""
    messages: Any = [{"role": "user", "content": "Hello"}]
    reply = await sdk.chat.completions.create(model=model, messages=messages)
    stream = await sdk.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    usage = None
    async for chunk in stream:
        usage = chunk.usage or usage
    return [reply.usage, usage]


def seen(usage: Any) -> tuple[int, int, int, int]:
    details = usage.prompt_tokens_details
    reasoning = usage.completion_tokens_details
    return (
        usage.prompt_tokens,
        usage.completion_tokens,
        details.cached_tokens,
        reasoning.reasoning_tokens,
    )


async def test_cached_and_reasoning_tokens_reach_the_sdk_the_ledger_and_costs(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    cached = Behavior(prompt_tokens=12, cache_read_tokens=2000, chunks=4)
    fake.set("claude-sonnet-4-5", cached)
    fake.set("gpt", Behavior(prompt_tokens=12, cache_read_tokens=2000, reasoning_tokens=30))

    claude = await unary_and_streamed(sdk, "claude")
    gpt = await unary_and_streamed(sdk, "gpt")

    assert [seen(u) for u in claude] == [(2012, 4, 2000, 0)] * 2
    assert [seen(u) for u in gpt] == [(2012, 34, 2000, 30)] * 2

    rows: list[tuple[Any, ...]] = []
    async with asyncio.timeout(30):
        while len(rows) < 4:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT model, prompt_tokens, cache_read_tokens, cache_write_tokens,"
                    " completion_tokens, reasoning_tokens, cost_usd FROM usage_records"
                    " ORDER BY model"
                ).fetchall()
    # claude: (12 * 3 + 2000 * 0.30 + 4 * 15) / 1e6; gpt: (12 * 2.5 + 2000 * 1.25 + 34 * 10) / 1e6.
    assert [r[:6] for r in rows] == [("claude", 2012, 2000, 0, 4, 0)] * 2 + [
        ("gpt", 2012, 2000, 0, 34, 30)
    ] * 2
    assert [r[6] for r in rows] == [pytest.approx(0.000696)] * 2 + [pytest.approx(0.00287)] * 2

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "llmrouter", "costs", "--config", str(stack.config), *GROUPED],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=env | {"LLMROUTER_READ_TOKEN": READ_TOKEN},
    )
    by_model = {r["model"]: r for r in csv.DictReader(io.StringIO(out.stdout))}
    assert [by_model[m]["cached_tokens"] for m in ("claude", "gpt", "TOTAL")] == [
        "4000",
        "4000",
        "8000",
    ]
