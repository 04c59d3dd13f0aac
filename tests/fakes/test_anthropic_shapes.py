"""The fake Anthropic upstream's optional shapes, read over raw HTTP: each is one the Messages
API reference documents (usage with the cache counts; message_start's usage as known at the
start, message_delta's cumulative; tool input in input_json_delta pieces or whole)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .test_upstream import ANTHROPIC_HEADERS, anthropic, sse_events

TIME = [{"name": "get_time", "input_schema": {"type": "object", "properties": {}}}]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as server:
        yield server


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=upstream.base_url, timeout=2.0) as http:
        yield http


async def events_of(
    client: httpx.AsyncClient, upstream: FakeUpstream, behavior: Behavior, **extra: Any
) -> dict[str, list[dict[str, Any]]]:
    """The events of one streamed answer to ``behavior``, by name."""
    upstream.set("claude-test", behavior)
    request = anthropic(stream=True, **extra)
    async with client.stream(
        "POST", "/v1/messages", json=request, headers=ANTHROPIC_HEADERS
    ) as response:
        events = await sse_events(response)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for name, data in events:
        by_name.setdefault(name, []).append(data)
    return by_name


@pytest.mark.parametrize(("start_usage", "at_start"), [("zero", 0), ("absent", None)])
async def test_usage_reported_late(
    client: httpx.AsyncClient, upstream: FakeUpstream, start_usage: Any, at_start: int | None
) -> None:
    behavior = Behavior(start_usage=start_usage, prompt_tokens=1234, cache_read_tokens=7)
    events = await events_of(client, upstream, behavior)
    usage = events["message_start"][0]["message"].get("usage")
    assert (usage or {}).get("input_tokens") == at_start
    assert events["message_delta"][0]["usage"] == {
        "input_tokens": 1234,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 7,
        "output_tokens": 4,
    }


async def test_cache_counts_beside_input_tokens(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    upstream.set("claude-test", Behavior(prompt_tokens=12, cache_read_tokens=2000))
    reply = await client.post("/v1/messages", json=anthropic(), headers=ANTHROPIC_HEADERS)
    assert reply.json()["usage"] == {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 4,
    }


async def test_tool_input_empty_or_whole(client: httpx.AsyncClient, upstream: FakeUpstream) -> None:
    empty = await events_of(client, upstream, Behavior(tool_arguments={}), tools=TIME)
    assert empty["content_block_start"][0]["content_block"]["input"] == {}
    deltas = [e["delta"] for e in empty["content_block_delta"]]
    assert deltas == [{"type": "input_json_delta", "partial_json": ""}]
    whole = await events_of(client, upstream, Behavior(tool_input_whole=True), tools=TIME)
    assert whole["content_block_start"][0]["content_block"]["input"] == {"city": "Paris"}
    assert "content_block_delta" not in whole


async def test_thinking_blocks_come_first_as_the_reference_streams_them(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    # "Building with extended thinking": thinking, then redacted_thinking, then the answer;
    # streamed, the thinking block opens empty, fills through thinking_delta events and gets
    # its signature in a signature_delta just before its content_block_stop.
    behavior = Behavior(reasoning="Let me think.", redacted_thinking=True)
    upstream.set("claude-test", behavior)
    reply = await client.post("/v1/messages", json=anthropic(), headers=ANTHROPIC_HEADERS)
    blocks = reply.json()["content"]
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking", "text"]
    assert blocks[0]["thinking"] == "Let me think."
    assert blocks[0]["signature"]
    assert set(blocks[1]) == {"type", "data"}

    events = await events_of(client, upstream, behavior)
    starts = events["content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [
        (0, "thinking"),
        (1, "redacted_thinking"),
        (2, "text"),
    ]
    assert starts[0]["content_block"]["thinking"] == ""
    deltas = [(d["index"], d["delta"]["type"]) for d in events["content_block_delta"]]
    assert deltas[:3] == [(0, "thinking_delta"), (0, "thinking_delta"), (0, "signature_delta")]
    assert set(deltas[3:]) == {(2, "text_delta")}
    thought = "".join(
        d["delta"].get("thinking", "") for d in events["content_block_delta"] if d["index"] == 0
    )
    assert thought == "Let me think."
    assert [s["index"] for s in events["content_block_stop"]] == [0, 1, 2]
