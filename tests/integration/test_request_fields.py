"""Issue 16, "Request fields": what a client sets reaches each provider kind's upstream as the
README's table says (passed, translated), or is a 400 naming the field (refused), never dropped.

Real gateway, router and metrics processes; the fake upstream records the exact upstream body.
Clients: raw HTTP (to see the 400's ``param``) and the official ``openai`` package.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

ANTHROPIC_KEY = "LLMROUTER_TEST_I16_ANTHROPIC_KEY"
KEY = "sk-test-i16-0123456789"
USER = [{"role": "user", "content": "Weather in Paris?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    models = "".join(
        f"""
[[router.models]]
name = "{name}"
provider = "{provider}"
tools = true
json_mode = {json_mode}
"""
        for name, provider, json_mode in (
            ("o-mini", "oai", "true"),
            ("claude", "claude", "true"),
            ("claude-plain", "claude", "false"),
            ("llama", "ollama", "true"),
        )
    )
    providers = f"""
default_chain = ["o-mini"]
[[router.providers]]
name = "oai"
kind = "openai"
base_url = "{fake.base_url}/v1"
extra_body_keys = ["top_k", "chat_template_kwargs"]
[[router.providers]]
name = "claude"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "{ANTHROPIC_KEY}"
[[router.providers]]
name = "ollama"
kind = "ollama"
base_url = "{fake.base_url}"
extra_body_keys = ["options", "keep_alive"]
{models}"""
    env = {ANTHROPIC_KEY: "sk-ant-test", "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"}
    async with started(write_config(tmp_path, providers), env) as s:
        yield s


async def post(stack: Stack, **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        return await http.post(f"{stack.url}/v1/chat/completions", json=body)


def sent(fake: FakeUpstream) -> dict[str, Any]:
    """The body of the upstream's latest request."""
    body = fake.requests[-1].json
    assert isinstance(body, dict)
    return body


def refused(response: httpx.Response, param: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param, response.text


async def test_openai_compatible_upstream_gets_each_field_under_its_own_name(
    stack: Stack, fake: FakeUpstream
) -> None:
    # Input 1: an upstream that, like OpenAI's reasoning models, refuses max_tokens.
    fake.set("o-mini", Behavior(reject_max_tokens=True))
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    reply = await client.chat.completions.create(
        model="o-mini",
        messages=USER,  # type: ignore[arg-type]
        max_completion_tokens=50,
        logprobs=True,
        top_logprobs=2,
        service_tier="flex",
        reasoning_effort="low",
        tools=[TOOL],  # type: ignore[list-item]
        parallel_tool_calls=False,
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    body = sent(fake)
    assert "max_tokens" not in body
    assert {k: body.get(k) for k in ("max_completion_tokens", "logprobs", "top_logprobs")} == {
        "max_completion_tokens": 50,
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert (body["service_tier"], body["reasoning_effort"]) == ("flex", "low")
    assert body["parallel_tool_calls"] is False

    # Neighbour: the legacy name still travels as itself, streamed too.
    fake.set("o-mini")
    stream = await client.chat.completions.create(
        model="o-mini",
        messages=USER,  # type: ignore[arg-type]
        max_tokens=7,
        stream=True,
    )
    async for _ in stream:
        pass
    assert (sent(fake)["max_tokens"], "max_completion_tokens" in sent(fake)) == (7, False)

    # Fields of OpenAI's request the router does not carry: a 400 naming each, never dropped.
    calls = len(fake.requests)
    refused(
        await post(stack, model="o-mini", messages=USER, logit_bias={"50256": -100}), "logit_bias"
    )
    refused(await post(stack, model="o-mini", messages=USER, store=True), "store")
    refused(await post(stack, model="o-mini", messages=USER, top_logprobs=3), "top_logprobs")
    assert len(fake.requests) == calls
    # Their defaults ask for nothing and are accepted.
    ok = await post(stack, model="o-mini", messages=USER, store=False, modalities=["text"])
    assert ok.status_code == 200, ok.text


async def test_anthropic_gets_translations_or_a_400_naming_the_field(
    stack: Stack, fake: FakeUpstream
) -> None:
    answer = await post(
        stack,
        model="claude",
        messages=USER,
        max_completion_tokens=50,
        tools=[TOOL],
        parallel_tool_calls=False,
        service_tier="default",
    )
    assert answer.status_code == 200, answer.text
    body = sent(fake)
    assert body["max_tokens"] == 50
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["service_tier"] == "standard_only"

    calls = len(fake.requests)
    for field, value in (
        ("reasoning_effort", "high"),
        ("logprobs", True),
        ("seed", 7),
        ("frequency_penalty", 0.5),
        ("service_tier", "priority"),
    ):
        refused(await post(stack, model="claude", messages=USER, **{field: value}), field)
    assert len(fake.requests) == calls


async def test_anthropic_json_mode_answers_json_through_a_forced_tool(
    stack: Stack, fake: FakeUpstream
) -> None:
    # Input 6: the upstream body had only model, messages and max_tokens; free text came back.
    answer = await post(stack, model="claude", messages=USER, response_format=JSON_SCHEMA)
    assert answer.status_code == 200, answer.text
    body = sent(fake)
    assert body["tools"] == [
        {"name": "city", "description": body["tools"][0]["description"], "input_schema": SCHEMA}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "city"}
    choice = answer.json()["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"city": "Paris"}
    assert choice["finish_reason"] == "stop"
    assert not choice["message"].get("tool_calls")

    # Streamed, through the official client: the same JSON as text deltas.
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    stream = await client.chat.completions.create(
        model="claude",
        messages=USER,  # type: ignore[arg-type]
        response_format={"type": "json_object"},
        stream=True,
    )
    text, reasons = "", []
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            assert not chunk.choices[0].delta.tool_calls
            reasons.append(chunk.choices[0].finish_reason)
    assert json.loads(text) == {"city": "Paris"}
    assert reasons[-1] == "stop"
    assert sent(fake)["tools"][0]["input_schema"] == {"type": "object"}

    # A model without json_mode, or JSON with tools of the caller's own: 400 naming the field.
    refused(
        await post(stack, model="claude-plain", messages=USER, response_format=JSON_SCHEMA),
        "response_format",
    )
    refused(
        await post(stack, model="claude", messages=USER, response_format=JSON_SCHEMA, tools=[TOOL]),
        "response_format",
    )


async def test_ollama_gets_options_and_format_or_a_400_naming_the_field(
    stack: Stack, fake: FakeUpstream
) -> None:
    answer = await post(
        stack,
        model="llama",
        messages=USER,
        max_completion_tokens=50,
        presence_penalty=0.5,
        response_format=JSON_SCHEMA,
    )
    assert answer.status_code == 200, answer.text
    body = sent(fake)
    assert body["options"]["num_predict"] == 50
    assert body["options"]["presence_penalty"] == 0.5
    assert body["format"] == SCHEMA

    calls = len(fake.requests)
    refused(
        await post(stack, model="llama", messages=USER, reasoning_effort="low"), "reasoning_effort"
    )
    refused(
        await post(stack, model="llama", messages=USER, tools=[TOOL], tool_choice="required"),
        "tool_choice",
    )
    assert len(fake.requests) == calls


async def test_extra_body_reaches_the_upstream_without_overriding_the_router(
    stack: Stack, fake: FakeUpstream
) -> None:
    # vLLM's extra sampling parameters (top_k) through the official client's extra_body.
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    await client.chat.completions.create(
        model="o-mini",
        messages=USER,  # type: ignore[arg-type]
        max_completion_tokens=5,
        extra_body={"llmrouter": {"extra_body": {"top_k": 40, "chat_template_kwargs": {}}}},
    )
    body = sent(fake)
    assert (body["top_k"], body["chat_template_kwargs"], body["max_completion_tokens"]) == (
        40,
        {},
        5,
    )

    # Ollama: objects merge key by key beside the router's own options.
    extra = {"options": {"num_ctx": 8192}, "keep_alive": "5m"}
    answer = await post(
        stack, model="llama", messages=USER, temperature=0.5, llmrouter={"extra_body": extra}
    )
    assert answer.status_code == 200, answer.text
    body = sent(fake)
    assert body["options"] == {"temperature": 0.5, "num_ctx": 8192}
    assert body["keep_alive"] == "5m"

    # A key the router sets for that kind, one it owns for every kind (the reviewer's input:
    # continuation switches, a choice count, a token limit past the window check; upstream
    # selection), or one the provider's extra_body_keys does not list: 400 naming it.
    calls = len(fake.requests)
    for model, extra, param in (
        ("llama", {"options": {"temperature": 0}}, "llmrouter.extra_body.options.temperature"),
        ("llama", {"options": {"num_predict": 9}}, "llmrouter.extra_body.options.num_predict"),
        ("llama", {"stream": True}, "llmrouter.extra_body.stream"),
        ("claude", {"max_tokens": 10}, "llmrouter.extra_body.max_tokens"),
        ("claude", {"top_k": 10}, "llmrouter.extra_body.top_k"),
        ("o-mini", {"messages": []}, "llmrouter.extra_body.messages"),
        (
            "o-mini",
            {"add_generation_prompt": True, "n": 3, "max_tokens": 100000},
            "llmrouter.extra_body.add_generation_prompt",
        ),
        ("o-mini", {"n": 3}, "llmrouter.extra_body.n"),
        ("o-mini", {"top_k": 4, "max_tokens": 100000}, "llmrouter.extra_body.max_tokens"),
        ("o-mini", {"models": ["gpt-4o"]}, "llmrouter.extra_body.models"),
        ("o-mini", {"base_url": "http://elsewhere"}, "llmrouter.extra_body.base_url"),
        ("o-mini", {"min_p": 0.1}, "llmrouter.extra_body.min_p"),
    ):
        response = await post(
            stack, model=model, messages=USER, temperature=0.5, llmrouter={"extra_body": extra}
        )
        refused(response, param)
    assert len(fake.requests) == calls
