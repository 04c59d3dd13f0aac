"""The fake upstream's assistant prefill, per each provider's reference: the reply holds only
what follows the prefill; each API's own rules about it are enforced."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

TEXT = "one two three four five six"
ASK = {"role": "user", "content": "count"}
ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as server:
        server.set(None, Behavior(chunks=6, text=TEXT))
        yield server


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=upstream.base_url, timeout=2.0) as http:
        yield http


def said(kind: str, reply: dict[str, Any]) -> str:
    if kind == "openai":
        return str(reply["choices"][0]["message"]["content"])
    if kind == "anthropic":
        return "".join(block["text"] for block in reply["content"])
    return str(reply["message"]["content"])


async def post(client: httpx.AsyncClient, kind: str, prefill: str, **extra: Any) -> httpx.Response:
    messages = [ASK, {"role": "assistant", "content": prefill}]
    if kind == "openai":
        body = {"model": "m", "messages": messages, **extra}
        return await client.post("/v1/chat/completions", json=body)
    if kind == "anthropic":
        body = {"model": "m", "max_tokens": 100, "messages": messages, **extra}
        return await client.post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    body = {"model": "m", "messages": messages, "stream": False, **extra}
    return await client.post("/api/chat", json=body)


VLLM = {"continue_final_message": True, "add_generation_prompt": False}


@pytest.mark.parametrize(("kind", "extra"), [("openai", VLLM), ("anthropic", {}), ("ollama", {})])
async def test_a_prefill_is_continued(client: httpx.AsyncClient, kind: str, extra: Any) -> None:
    response = await post(client, kind, "one two", **extra)
    assert response.status_code == 200
    assert said(kind, response.json()) == " three four five six"


async def test_plain_openai_starts_a_new_answer(client: httpx.AsyncClient) -> None:
    response = await post(client, "openai", "one two")
    assert said("openai", response.json()) == TEXT


async def test_each_api_refuses_what_its_reference_refuses(client: httpx.AsyncClient) -> None:
    # vLLM: continue_final_message with add_generation_prompt left at its default (true).
    response = await post(client, "openai", "one two", continue_final_message=True)
    assert response.status_code == 400
    assert "add_generation_prompt" in json.dumps(response.json())
    # Anthropic: a prefill cannot end with trailing whitespace.
    response = await post(client, "anthropic", "one two ")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_reject_prefill(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    upstream.set("m", Behavior(reject_prefill=True))
    response = await post(client, "openai", "one two", **VLLM)
    assert response.status_code == 400
    assert "continue_final_message" in response.json()["error"]["message"]
    assert (await post(client, "anthropic", "one two")).status_code == 400
