"""The fake upstream's knobs for usage a server sends outside the published references:
``usage_patch`` (counts replaced or removed), ``start_usage_patch`` (Anthropic's
message_start) and ``omit_usage`` (an OpenAI-compatible server that reports none)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .test_upstream import ANTHROPIC_HEADERS, anthropic, openai, sse_data, sse_events


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeUpstream, httpx.AsyncClient]]:
    async with (
        running_upstream() as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as http,
    ):
        yield server, http


async def test_openai_usage_patched_whole_and_streamed(
    fake: tuple[FakeUpstream, httpx.AsyncClient],
) -> None:
    upstream, client = fake
    patch = {"prompt_tokens": 2**63, "prompt_tokens_details.cached_tokens": "lots"}
    upstream.set("gpt-test", Behavior(usage_patch=patch))
    whole = (await client.post("/v1/chat/completions", json=openai())).json()["usage"]
    body = openai(stream=True, stream_options={"include_usage": True})
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        last: dict[str, Any] = json.loads((await sse_data(response))[-2])
    for usage in (whole, last["usage"]):
        assert usage["prompt_tokens"] == 2**63
        assert usage["prompt_tokens_details"]["cached_tokens"] == "lots"
        assert usage["completion_tokens"] == 4  # the rest as the reference has it


async def test_openai_omit_usage_sends_none_even_when_asked(
    fake: tuple[FakeUpstream, httpx.AsyncClient],
) -> None:
    upstream, client = fake
    upstream.set("gpt-test", Behavior(omit_usage=True))
    assert "usage" not in (await client.post("/v1/chat/completions", json=openai())).json()
    body = openai(stream=True, stream_options={"include_usage": True})
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        data = await sse_data(response)
    assert data[-1] == "[DONE]"
    assert all("usage" not in json.loads(d) for d in data[:-1])


async def test_anthropic_start_and_end_usage_patched(
    fake: tuple[FakeUpstream, httpx.AsyncClient],
) -> None:
    upstream, client = fake
    upstream.set(
        "claude-test",
        Behavior(usage_patch={"output_tokens": -5}, start_usage_patch={"input_tokens": "500"}),
    )
    async with client.stream(
        "POST", "/v1/messages", json=anthropic(stream=True), headers=ANTHROPIC_HEADERS
    ) as response:
        events = dict(await sse_events(response))
    assert events["message_start"]["message"]["usage"]["input_tokens"] == "500"
    assert events["message_delta"]["usage"] == {"output_tokens": -5}


async def test_ollama_done_counts_removed(fake: tuple[FakeUpstream, httpx.AsyncClient]) -> None:
    upstream, client = fake
    upstream.set("llama", Behavior(usage_patch={"prompt_eval_count": ...}))
    done = (await client.post("/api/chat", json={**openai("llama"), "stream": False})).json()
    assert "prompt_eval_count" not in done
    assert done["eval_count"] == 4
