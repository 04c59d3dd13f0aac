"""The fake upstream's OpenAI tool-call dialects (``Behavior.more_tool_calls``,
``tool_call_index``, ``tool_calls_together``, ``tool_arguments_object``), read over real
sockets: each sends what its row in ``Behavior`` says, as the reference or the server it
stands for does."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.fakes import Behavior, FakeUpstream

from .test_upstream import TOOLS, client, openai, sse_data, upstream

__all__ = ["client", "upstream"]  # the fixtures


async def test_openai_parallel_tool_call_dialects(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    rome = {"city": "Rome"}
    cases: list[tuple[Behavior, list[list[Any]]]] = [
        # The reference: each call opens at its index, its arguments follow there.
        (Behavior(more_tool_calls=(rome,), chunks=1), [[0], [0], [1], [1]]),
        # Gemini's endpoint: no index, one whole call per chunk, or all in one chunk.
        (Behavior(more_tool_calls=(rome,), tool_call_index="absent"), [[None], [None]]),
        (
            Behavior(more_tool_calls=(rome,), tool_call_index="absent", tool_calls_together=True),
            [[None, None]],
        ),
        # Every call at index 0, each opening with its own id.
        (Behavior(more_tool_calls=(rome,), tool_call_index="zero", chunks=1), [[0], [0], [0], [0]]),
    ]
    for behavior, indices in cases:
        upstream.set("gpt-test", behavior)
        async with client.stream(
            "POST", "/v1/chat/completions", json=openai(tools=TOOLS, stream=True)
        ) as response:
            data = await sse_data(response)
        deltas = [json.loads(item)["choices"][0]["delta"] for item in data[:-2]]
        entries = [d["tool_calls"] for d in deltas if "tool_calls" in d]
        assert [[e.get("index") for e in chunk] for chunk in entries] == indices
        ids = [e["id"] for chunk in entries for e in chunk if "id" in e]
        assert len(ids) == len(set(ids)) == 2

    upstream.set("gpt-test", Behavior(more_tool_calls=(rome,), tool_arguments_object=True))
    reply = await client.post("/v1/chat/completions", json=openai(tools=TOOLS))
    calls = reply.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == [{"city": "Paris"}, rome]
