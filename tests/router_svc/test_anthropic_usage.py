"""Anthropic answers as Anthropic's published Messages API reference shapes them, through the
adapter over real HTTP and through a router to the client and the ledger (issue 16, inputs 2, 3
and 5): usage reported late or split around the prompt cache, and tool input given in any of
the documented ways, all reach the client in OpenAI's sense."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.chat import ChatRequest, Message, StreamDelta, StreamEnd, TokenUsage, Tool
from router_svc.config import RetryConfig
from router_svc.providers import Provider, ProviderCall, create_provider
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, fake_providers, model, wait_for

WEATHER = Tool(
    "get_weather", "Weather for a city", '{"type":"object","properties":{"city":{"type":"string"}}}'
)
# 56 pieces, one completion token each.
LONG = "token " * 56
# A tool that takes no parameters.
NOW = Tool("get_time", "The time now", '{"type":"object","properties":{}}')


@pytest.fixture
async def anthropic(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LLMROUTER_TEST_ANTHROPIC_KEY", "test-key-not-secret")
    config = next(p for p in fake_providers(upstream) if p.kind == "anthropic")
    provider = create_provider(config)
    yield provider
    await provider.aclose()


def request(*tools: Tool) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "Hello there"),), tools=tools)


async def streamed(provider: Provider, req: ChatRequest) -> tuple[str, StreamEnd]:
    """(the tool call's arguments, or the text; the end) of one streamed answer."""
    events = [e async for e in provider.stream(ProviderCall("m", req, 5.0))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    deltas = [e for e in events if isinstance(e, StreamDelta)]
    arguments = "".join(c.arguments for d in deltas for c in d.tool_calls)
    return arguments or "".join(d.content for d in deltas), end


# Issue 16, input 2: message_start says input_tokens 0 (or has no usage at all) and
# message_delta carries the cumulative counts. Neighbours: the same with cache counts, and a
# tool call answered that way.
LATE_USAGE = [
    pytest.param(
        Behavior(start_usage="zero", prompt_tokens=1234, chunks=56, text=LONG),
        TokenUsage(1234, 56),
        id="input-zero-at-start",
    ),
    pytest.param(
        Behavior(start_usage="absent", prompt_tokens=1234, chunks=56, text=LONG),
        TokenUsage(1234, 56),
        id="no-usage-at-start",
    ),
    pytest.param(
        Behavior(start_usage="absent", prompt_tokens=30, cache_read_tokens=900, chunks=5),
        TokenUsage(930, 5, cache_read_tokens=900),
        id="no-usage-at-start-cached",
    ),
    pytest.param(
        Behavior(start_usage="zero", prompt_tokens=77, cache_write_tokens=500, chunks=3),
        TokenUsage(577, 3, cache_write_tokens=500),
        id="input-zero-at-start-cache-write",
    ),
]


@pytest.mark.parametrize(("behavior", "usage"), LATE_USAGE)
async def test_usage_reported_only_at_the_end_of_a_stream_is_kept(
    anthropic: Provider, upstream: FakeUpstream, behavior: Behavior, usage: TokenUsage
) -> None:
    upstream.set("m", behavior)
    text, end = await streamed(anthropic, request())
    assert text == (behavior.text or "Hello from m.")
    assert end.usage == usage


async def test_late_usage_as_a_tool_call(anthropic: Provider, upstream: FakeUpstream) -> None:
    upstream.set("m", Behavior(start_usage="absent", prompt_tokens=321))
    arguments, end = await streamed(anthropic, request(WEATHER))
    assert json.loads(arguments) == {"city": "Paris"}
    assert end.finish_reason == "tool_calls"
    assert end.usage.prompt_tokens == 321


# Issue 16, input 3 (prompt tokens): input_tokens excludes the cache reads and writes that the
# reference counts beside it; OpenAI's prompt_tokens includes them. Neighbours: cache writes,
# and both at once.
CACHED = [
    pytest.param(Behavior(prompt_tokens=12, cache_read_tokens=2000), 2012, 2000, 0, id="read"),
    pytest.param(Behavior(prompt_tokens=12, cache_write_tokens=1500), 1512, 0, 1500, id="write"),
    pytest.param(
        Behavior(prompt_tokens=5, cache_read_tokens=40, cache_write_tokens=300),
        345,
        40,
        300,
        id="both",
    ),
]


@pytest.mark.parametrize(("behavior", "prompt", "read", "write"), CACHED)
async def test_cached_prompt_tokens_count_as_prompt_tokens(
    anthropic: Provider,
    upstream: FakeUpstream,
    behavior: Behavior,
    prompt: int,
    read: int,
    write: int,
) -> None:
    upstream.set("m", behavior)
    whole = await anthropic.complete(ProviderCall("m", request(), 5.0))
    _, end = await streamed(anthropic, request())
    for usage in (whole.usage, end.usage):
        assert usage == TokenUsage(prompt, 4, cache_read_tokens=read, cache_write_tokens=write)


# Issue 16, input 5: a tool without parameters streams an empty input (one empty
# input_json_delta); its arguments are "{}", as unary. Neighbours: the input given whole in
# content_block_start, with and without parameters.
TOOL_INPUTS = [
    pytest.param(NOW, Behavior(tool_arguments={}), {}, id="no-parameters"),
    pytest.param(WEATHER, Behavior(tool_input_whole=True), {"city": "Paris"}, id="input-whole"),
    pytest.param(
        NOW, Behavior(tool_arguments={}, tool_input_whole=True), {}, id="empty-input-whole"
    ),
]


@pytest.mark.parametrize(("tool", "behavior", "arguments"), TOOL_INPUTS)
async def test_streamed_tool_arguments_are_json(
    anthropic: Provider,
    upstream: FakeUpstream,
    tool: Tool,
    behavior: Behavior,
    arguments: dict[str, Any],
) -> None:
    upstream.set("m", behavior)
    whole = await anthropic.complete(ProviderCall("m", request(tool), 5.0))
    assert [json.loads(c.arguments) for c in whole.tool_calls] == [arguments]
    text, end = await streamed(anthropic, request(tool))
    assert end.finish_reason == "tool_calls"
    assert text
    assert json.loads(text) == arguments


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


async def test_late_and_cached_usage_reach_the_client_and_the_ledger(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """Issue 16's figures at $3 / $15 per million: 1234 prompt and 56 completion tokens cost
    $0.004542 (not $0.00084); then a cached prompt of 12 + 2000 tokens; one router, in turn."""
    upstream.set(
        "claude",
        Behavior(start_usage="zero", prompt_tokens=1234, chunks=56, text=LONG),
        Behavior(start_usage="absent", prompt_tokens=1234, chunks=56, text=LONG),
        Behavior(prompt_tokens=12, cache_read_tokens=2000, chunks=4),
    )
    priced = model("claude", "anth", input_price_per_million=3.0, output_price_per_million=15.0)
    _, stub = await make_router((priced,), ("claude",), retry=RetryConfig(attempts_per_model=1))
    summaries = []
    for _ in range(2):
        chunks = [
            c
            async for c in stub.StreamComplete(
                router_service_pb2.StreamCompleteRequest(chat=chat())
            )
        ]
        summaries.append(chunks[-1].summary)
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    seen = [(s.usage.prompt_tokens, s.usage.completion_tokens) for s in summaries]
    assert seen == [(1234, 56), (1234, 56)]
    for summary in summaries:
        assert summary.usage.cost_usd == pytest.approx(0.004542)
    assert reply.usage.prompt_tokens == 2012
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 3)
    rows = sorted(metrics.records.values(), key=lambda r: r.prompt_tokens)
    assert [(r.prompt_tokens, r.completion_tokens) for r in rows] == [
        (1234, 56),
        (1234, 56),
        (2012, 4),
    ]
    assert [r.cost_usd for r in rows[:2]] == [pytest.approx(0.004542)] * 2
