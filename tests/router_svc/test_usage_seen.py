"""A stream abandoned before its end keeps the usage its upstream reported so far (issue 16,
input 4 and its kind): the Anthropic adapter over real HTTP to the fake upstream, which shapes
its stream as the Messages API reference does ("Streaming Messages": message_start carries the
usage known at the start, message_delta the cumulative counts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from router_svc.chat import ChatRequest, Message, StreamDelta, StreamEnd, StreamEvent, TokenUsage
from router_svc.providers import ProviderCall, UsageSeen, create_provider
from router_svc.providers.lenient import StreamDecoder, decode
from tests.fakes import Behavior, FakeUpstream

from .conftest import fake_providers

REQUEST = ChatRequest(model="m", messages=(Message("user", "Hello there"),))


@pytest.fixture
async def provider(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LLMROUTER_TEST_ANTHROPIC_KEY", "test-key-not-secret")
    config = next(p for p in fake_providers(upstream) if p.kind == "anthropic")
    created = create_provider(config)
    yield created
    await created.aclose()


@pytest.mark.parametrize(
    ("behavior", "seen"),
    [
        # message_start reports the input (and the cache reads) at once.
        pytest.param(
            Behavior(prompt_tokens=500, chunks=10),
            TokenUsage(500, 1),
            id="input-at-start",
        ),
        pytest.param(
            Behavior(prompt_tokens=12, cache_read_tokens=2000, chunks=10),
            TokenUsage(2012, 1, cache_read_tokens=2000),
            id="cached-input-at-start",
        ),
        # Input counted late (message_start says 0, or has no usage): nothing is known yet.
        pytest.param(Behavior(start_usage="zero", prompt_tokens=500, chunks=10), None, id="zero"),
        pytest.param(
            Behavior(start_usage="absent", prompt_tokens=500, chunks=10), None, id="absent"
        ),
    ],
)
async def test_a_stream_left_after_its_first_delta_says_what_it_reported(
    provider: Any, upstream: FakeUpstream, behavior: Behavior, seen: TokenUsage | None
) -> None:
    upstream.set("m", behavior)
    call = ProviderCall("m", REQUEST, 5.0)
    async with aclosing(provider.stream(call)) as stream:
        async for event in stream:
            if isinstance(event, StreamDelta):
                break
    assert call.seen.usage == seen


async def test_a_finished_stream_ends_with_the_final_counts(
    provider: Any, upstream: FakeUpstream
) -> None:
    upstream.set("m", Behavior(start_usage="zero", prompt_tokens=500, chunks=10))
    call = ProviderCall("m", REQUEST, 5.0)
    events = [e async for e in provider.stream(call)]
    assert len(events) == 11
    assert call.seen.usage == TokenUsage(500, 10)


class CountingDecoder(StreamDecoder):
    """One text delta per payload, usage known from the first: counts the reads of ``seen``."""

    def __init__(self) -> None:
        self.reads = 0
        self.chunks = 0

    def feed(self, payload: str) -> list[StreamEvent]:
        self.chunks += 1
        return [StreamDelta(content=payload)]

    def finished(self) -> StreamEnd | None:
        return None

    def seen(self) -> TokenUsage | None:
        self.reads += 1
        return TokenUsage(7, self.chunks)


async def test_the_usage_seen_is_built_when_read_not_per_chunk() -> None:
    """Building it per chunk cost Anthropic streams a TokenUsage per chunk (~1.1 µs each)."""

    async def payloads() -> AsyncIterator[str]:
        for i in range(1000):
            yield f"piece {i}"

    decoder, seen = CountingDecoder(), UsageSeen()
    stream = decode("p", decoder, payloads(), end_marker="[DONE]", seen=seen)
    async with aclosing(stream):
        deltas = 0
        async for _event in stream:
            deltas += 1
            if deltas == 1000:
                break
    assert decoder.reads == 0
    assert seen.usage == TokenUsage(7, 1000)  # current when read, after the last chunk
    assert decoder.reads == 1
