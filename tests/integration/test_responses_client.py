"""The official ``openai`` package, unchanged, against the real gateway, router and metrics
processes: ``client.responses`` (the Responses API front door) served by an OpenAI-compatible
model and by an Anthropic model behind the fake upstream: plain, streaming (the SDK's stream
helper assembles the final response), function calling with a ``function_call_output`` turn,
a JSON schema text format (``responses.parse``), failover with a failing first model, typed
errors; the ledger rows say ``front_door = "responses"``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-canary-0123456789"
MODELS = ("gpt-fake", "claude-fake")
TOOLS: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
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
"""
    for name, provider in zip(MODELS, ("openai-fake", "anthropic-fake"), strict=True):
        providers += f"""
[[router.models]]
name = "{name}"
provider = "{provider}"
tools = true
json_mode = true
input_price_per_million = 1.0
output_price_per_million = 2.0
"""
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}",
        "LLMROUTER_TEST_ANTHROPIC_KEY": "test-key-not-secret",
    }
    async with started(write_config(tmp_path, providers, "auth_enabled = true"), env) as running:
        yield running


def client(stack: Stack, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("model", MODELS)
async def test_plain_stream_and_function_calling(
    stack: Stack, fake: FakeUpstream, model: str
) -> None:
    sdk = client(stack)
    reply = await sdk.responses.create(model=model, instructions="Be brief.", input="Hello")
    assert reply.object == "response"
    assert reply.status == "completed"
    assert reply.id.startswith("resp_")
    assert reply.model == model
    assert reply.output_text == f"Hello from {model}."
    assert reply.usage is not None
    assert reply.usage.output_tokens == 4
    assert reply.usage.input_tokens > 0
    assert reply.usage.total_tokens == reply.usage.input_tokens + 4

    async with sdk.responses.stream(model=model, input="Hello") as stream:
        pieces = [
            event.delta async for event in stream if event.type == "response.output_text.delta"
        ]
        final = await stream.get_final_response()
    assert "".join(pieces) == f"Hello from {model}."
    assert final.output_text == f"Hello from {model}."
    assert final.status == "completed"
    assert final.usage is not None
    assert final.usage.output_tokens == 4

    question: Any = [{"role": "user", "content": "Weather in Paris?"}]
    call = await sdk.responses.create(model=model, tools=TOOLS, input=question)
    calls = [item for item in call.output if item.type == "function_call"]
    assert len(calls) == 1
    assert (calls[0].name, json.loads(calls[0].arguments)) == ("get_weather", {"city": "Paris"})
    answer = await sdk.responses.create(
        model=model,
        tools=TOOLS,
        tool_choice="none",
        # The answer's items as the SDK hands them back (pydantic models), then the output.
        input=[
            *question,
            *call.output,
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21C"},
        ],
    )
    assert answer.output_text == f"Hello from {model}."
    assert "Sunny, 21C" in json.dumps(fake.requests[-1].json)  # the output reached the upstream

    async with sdk.responses.stream(model=model, tools=TOOLS, input=question) as stream:
        streamed = await stream.get_final_response()
    streamed_calls = [item for item in streamed.output if item.type == "function_call"]
    assert json.loads(streamed_calls[0].arguments) == {"city": "Paris"}


class Weather(BaseModel):
    city: str
    sunny: bool


async def test_a_json_schema_text_format(stack: Stack, fake: FakeUpstream) -> None:
    fake.set("gpt-fake", Behavior(text='{"city": "Paris", "sunny": true}'))
    parsed = await client(stack).responses.parse(
        model="gpt-fake", input="Weather in Paris, as JSON", text_format=Weather
    )
    assert parsed.output_parsed == Weather(city="Paris", sunny=True)
    sent = fake.requests[-1].json
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Weather"
    assert sent["response_format"]["json_schema"]["strict"] is True


async def test_failover_and_the_ledger_names_the_door(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.set("gpt-fake", Behavior(status=503))
    reply = await client(stack).responses.create(model="auto", input="Hello")
    assert reply.model == "claude-fake"
    assert reply.output_text == "Hello from claude-fake."
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
    assert rows[-1] == ("claude-fake", "succeeded", "responses")
    assert {door for _, _, door in rows} == {"responses"}


async def test_typed_errors_and_the_raw_event_order(stack: Stack) -> None:
    with pytest.raises(openai.AuthenticationError):
        await client(stack, key="sk-wrong").responses.create(model="gpt-fake", input="hi")
    with pytest.raises(openai.NotFoundError):
        await client(stack).responses.create(model="no-such-model", input="hi")
    with pytest.raises(openai.BadRequestError) as bad:
        await client(stack).responses.create(
            model="gpt-fake", input="hi", previous_response_id="resp_123"
        )
    assert bad.value.param == "previous_response_id"  # type: ignore[attr-defined]
    body = {"model": "claude-fake", "input": "Hello", "stream": True}
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{stack.url}/responses", json=body, headers=headers)
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    deltas = names.count("response.output_text.delta")
    assert deltas >= 1
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
