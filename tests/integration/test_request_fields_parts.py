"""Issue 16, "Request fields", per message, part and tool: a message's ``name``, an image's
``detail``, a tool's ``strict`` and ``response_format.json_schema.strict`` reach an
OpenAI-compatible upstream as sent; Anthropic and Ollama models, which have no counterpart, are
skipped, and when no model of the chain is left the client gets a 400 naming the field.

Real gateway, router and metrics processes; the fake upstream records the exact upstream body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

ANTHROPIC_KEY = "LLMROUTER_TEST_I16_PARTS_ANTHROPIC_KEY"
KEY = "sk-test-i16-parts-0123456789"
URL = "https://images.test/cat.png"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def image(detail: str) -> list[dict[str, Any]]:
    """One user message with a text part and an image part of this ``detail``."""
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": URL, "detail": detail}},
    ]
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": parts}]


def tool(*, strict: bool) -> dict[str, Any]:
    """A function tool with ``strict`` set."""
    return {
        "type": "function",
        "function": {"name": "get_weather", "parameters": SCHEMA, "strict": strict},
    }


NAMED = [
    {"role": "user", "content": "Hi"},
    {"role": "user", "name": "alice", "content": "Weather in Paris?"},
]


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
vision = true
json_mode = true
"""
        for name, provider in (("o-mini", "oai"), ("claude", "claude"), ("llama", "ollama"))
    )
    providers = f"""
default_chain = ["o-mini"]
[[router.providers]]
name = "oai"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.providers]]
name = "claude"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "{ANTHROPIC_KEY}"
[[router.providers]]
name = "ollama"
kind = "ollama"
base_url = "{fake.base_url}"
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
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param), response.text


async def test_each_field_passes_to_openai_or_is_refused_by_anthropic_and_ollama(
    stack: Stack, fake: FakeUpstream
) -> None:
    # One stack, one request after another: the refusals leave no state behind.
    detail = "messages[1].content[1].image_url.detail"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": image("low")}, detail),
        ({"messages": image("high")}, detail),
        ({"messages": NAMED}, "messages[1].name"),
        ({"messages": NAMED[:1], "tools": [tool(strict=True)]}, "tools[0].function.strict"),
    ]
    for fields, param in cases:
        for model in ("claude", "llama"):
            calls = len(fake.requests)
            refused(await post(stack, model=model, **fields), param)
            assert len(fake.requests) == calls, (model, param)

        # A chain with an OpenAI-compatible model left: that model serves it, the field as sent.
        answer = await post(stack, model="claude", models=["llama", "o-mini"], **fields)
        assert answer.status_code == 200, answer.text
        assert fake.requests[-1].path == "/v1/chat/completions"
        body = sent(fake)
        if param == detail:
            wanted = fields["messages"][1]["content"][1]["image_url"]
            assert body["messages"][1]["content"][1]["image_url"] == wanted
        elif param == "messages[1].name":
            assert body["messages"][1]["name"] == "alice"
        else:
            assert body["tools"][0]["function"]["strict"] is True


async def test_what_anthropic_and_ollama_can_carry_still_reaches_them(
    stack: Stack, fake: FakeUpstream
) -> None:
    # detail "auto" is what both do anyway; strict: false asks for nothing.
    for model, path in (("claude", "/v1/messages"), ("llama", "/api/chat")):
        answer = await post(stack, model=model, messages=image("auto"), tools=[tool(strict=False)])
        assert answer.status_code == 200, answer.text
        assert fake.requests[-1].path == path
        body = sent(fake)
        assert URL in str(body["messages"])
        assert "strict" not in str(body.get("tools"))


async def test_anthropic_refuses_a_strict_json_schema_ollama_takes_it(
    stack: Stack, fake: FakeUpstream
) -> None:
    strict = {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": SCHEMA, "strict": True},
    }
    user = [{"role": "user", "content": "Weather in Paris?"}]
    calls = len(fake.requests)
    refused(
        await post(stack, model="claude", messages=user, response_format=strict),
        "response_format.json_schema.strict",
    )
    assert len(fake.requests) == calls

    # Ollama's format constrains the output to the schema (its structured outputs).
    answer = await post(stack, model="llama", messages=user, response_format=strict)
    assert answer.status_code == 200, answer.text
    assert sent(fake)["format"] == SCHEMA

    # Not strict: the forced tool's input_schema, as before.
    loose = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    answer = await post(stack, model="claude", messages=user, response_format=loose)
    assert answer.status_code == 200, answer.text
    assert sent(fake)["tools"][0]["input_schema"] == SCHEMA
