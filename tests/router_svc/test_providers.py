"""Each adapter against the fake upstream over real HTTP: text, tools, usage, streams, failures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router_svc.chat import ChatRequest, Message, StreamDelta, StreamEnd, Tool
from router_svc.errors import (
    AuthFailed,
    BadUpstreamRequest,
    ConnectionFailed,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from router_svc.providers import Provider, ProviderCall, create_provider
from router_svc.providers.lenient import MAX_SKIPPED_IN_A_ROW, SKIPPED_ATTRIBUTE
from tests.fakes import Behavior, FakeUpstream

from .conftest import fake_providers

KINDS = ["oai", "anth", "olla"]
WEATHER = Tool(
    "get_weather", "Weather for a city", '{"type":"object","properties":{"city":{"type":"string"}}}'
)


@pytest.fixture
async def provider_for(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LLMROUTER_TEST_ANTHROPIC_KEY", "test-key-not-secret")
    made: list[Provider] = []

    def make(name: str) -> Provider:
        config = next(p for p in fake_providers(upstream) if p.name == name)
        provider = create_provider(config)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


def request(text: str = "Hello, how are you?", **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model="m", messages=(Message("system", "be brief"), Message("user", text)), **kwargs
    )


async def drain(source: Any, into: list[Any]) -> None:
    async for event in source:
        into.append(event)


async def collect(provider: Provider, req: ChatRequest, model: str = "m") -> list[Any]:
    return [e async for e in provider.stream(ProviderCall(model, req, 5.0))]


@pytest.mark.parametrize("kind", KINDS)
async def test_text_round_trip(provider_for: Any, upstream: FakeUpstream, kind: str) -> None:
    provider = provider_for(kind)
    completion = await provider.complete(ProviderCall("m", request(), 5.0))
    assert completion.content == "Hello from m."
    assert completion.finish_reason == "stop"
    assert completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens > 0
    sent = upstream.requests[-1].json
    if kind == "anth":
        assert sent["system"] == "be brief"  # system prompt moved out of the messages
        assert [m["role"] for m in sent["messages"]] == ["user"]
        assert upstream.requests[-1].headers["x-api-key"] == "test-key-not-secret"
    else:
        assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert upstream.requests[-1].headers["user-agent"].startswith("llmrouter")
    await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_round_trip(provider_for: Any, kind: str) -> None:
    provider = provider_for(kind)
    events = await collect(provider, request())
    deltas = [e for e in events if isinstance(e, StreamDelta)]
    assert "".join(d.content for d in deltas) == "Hello from m."
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].finish_reason == "stop"
    assert events[-1].usage.completion_tokens == 4
    assert events[-1].usage.prompt_tokens > 0
    await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_call_round_trip(provider_for: Any, upstream: FakeUpstream, kind: str) -> None:
    provider = provider_for(kind)
    completion = await provider.complete(
        ProviderCall("m", request("weather?", tools=(WEATHER,)), 5.0)
    )
    assert completion.finish_reason == "tool_calls"
    assert [c.name for c in completion.tool_calls] == ["get_weather"]
    assert json.loads(completion.tool_calls[0].arguments) == {"city": "Paris"}
    sent = upstream.requests[-1].json
    schema = sent["tools"][0].get("input_schema") or sent["tools"][0]["function"]["parameters"]
    assert schema["properties"]["city"]["type"] == "string"

    events = await collect(provider, request("weather?", tools=(WEATHER,)))
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        if isinstance(event, StreamDelta):
            for d in event.tool_calls:
                call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or d.id
                call["name"] = call["name"] or d.name
                call["arguments"] += d.arguments
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert events[-1].finish_reason == "tool_calls"
    await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("behavior", "error", "retry_after"),
    [
        (Behavior(status=429, retry_after="2"), RateLimited, 2.0),
        (Behavior(status=503), UpstreamUnavailable, None),
        (Behavior(status=500), UpstreamUnavailable, None),
        (Behavior(status=401), AuthFailed, None),
        (Behavior(status=400, error_message="bad temperature"), BadUpstreamRequest, None),
        (
            Behavior(
                status=400,
                error_code="context_length_exceeded",
                error_message="maximum context length is 4096 tokens",
            ),
            ContextLengthExceeded,
            None,
        ),
        (Behavior(malformed=True), MalformedResponse, None),
    ],
)
async def test_failures_are_classified(
    provider_for: Any,
    upstream: FakeUpstream,
    kind: str,
    behavior: Behavior,
    error: type[ProviderError],
    retry_after: float | None,
) -> None:
    provider = provider_for(kind)
    upstream.set("m", behavior)
    with pytest.raises(error) as info:
        await provider.complete(ProviderCall("m", request(), 5.0))
    assert info.value.retry_after == retry_after
    with pytest.raises(error):
        await collect(provider, request())
    await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_auth_failure_never_echoes_the_body(
    provider_for: Any, upstream: FakeUpstream, kind: str
) -> None:
    upstream.set("m", Behavior(status=401, error_message="Incorrect API key provided: sk-abc123"))
    provider = provider_for(kind)
    with pytest.raises(AuthFailed) as info:
        await provider.complete(ProviderCall("m", request(), 5.0))
    assert "sk-abc123" not in str(info.value)
    await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_cut_stream_is_a_failure_not_an_end(
    provider_for: Any, upstream: FakeUpstream, kind: str
) -> None:
    upstream.set("m", Behavior(cut_after=2))
    provider = provider_for(kind)
    events: list[Any] = []
    with pytest.raises((ConnectionFailed, MalformedResponse)):
        await drain(provider.stream(ProviderCall("m", request(), 5.0)), events)
    assert not any(isinstance(e, StreamEnd) for e in events)
    await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_bad_chunk_mid_stream_is_skipped_and_counted(
    provider_for: Any, upstream: FakeUpstream, kind: str, spans: InMemorySpanExporter
) -> None:
    upstream.set("m", Behavior(chunks=6, garbage_at=3))
    provider = provider_for(kind)
    with trace.get_tracer("test").start_as_current_span("attempt"):
        events = await collect(provider, request())
    assert "".join(e.content for e in events if isinstance(e, StreamDelta)) == "Hello from m."
    assert events[-1].finish_reason == "stop"
    assert events[-1].usage.completion_tokens == 6
    assert provider.skipped_chunks == 1
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes[SKIPPED_ATTRIBUTE] == 1
    # Too many in a row is the stream's failure, not a skip.
    upstream.set("m", Behavior(chunks=6, garbage_at=3, garbage_count=MAX_SKIPPED_IN_A_ROW + 1))
    with pytest.raises(MalformedResponse):
        await collect(provider, request())


@pytest.mark.parametrize("kind", ["oai", "anth"])
async def test_a_finished_stream_without_its_end_marker_is_an_answer(
    provider_for: Any, upstream: FakeUpstream, kind: str
) -> None:
    upstream.set("m", Behavior(chunks=5, drop_end_marker=True))
    provider = provider_for(kind)
    events = []
    async for event in provider.stream(ProviderCall("m", request(), 5.0)):
        events.append(event)
        # Read slowly: the connection breaks while the finish is still in the buffer.
        await asyncio.sleep(0.05)
    assert "".join(e.content for e in events if isinstance(e, StreamDelta)) == "Hello from m."
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].finish_reason == "stop"
    assert events[-1].usage.completion_tokens == 5  # the usage it sent


@pytest.mark.parametrize("kind", KINDS)
async def test_stall_times_out_and_hangs_up(
    provider_for: Any, upstream: FakeUpstream, kind: str
) -> None:
    upstream.set("m", Behavior(stall=True))
    provider = provider_for(kind)
    with pytest.raises(UpstreamTimeout):
        await provider.complete(ProviderCall("m", request(), 0.3))
    await upstream.wait_disconnects(1)
    await provider.aclose()


async def test_connection_refused_is_classified() -> None:
    from router_svc.config import ProviderConfig
    from tests.conftest import free_port

    provider = create_provider(
        ProviderConfig(name="gone", kind="openai", base_url=f"http://127.0.0.1:{free_port()}/v1")
    )
    with pytest.raises(ConnectionFailed):
        await provider.complete(ProviderCall("m", request(), 2.0))
    await provider.aclose()


async def test_openai_stream_asks_for_usage(provider_for: Any, upstream: FakeUpstream) -> None:
    provider = provider_for("oai")
    await collect(provider, request())
    assert upstream.requests[-1].json["stream_options"] == {"include_usage": True}
    await provider.aclose()


async def test_pooled_connections_are_reused(provider_for: Any, upstream: FakeUpstream) -> None:
    provider = provider_for("oai")
    for _ in range(5):
        await provider.complete(ProviderCall("m", request(), 5.0))
    assert upstream.connections == 1
    await provider.aclose()


async def test_a_key_read_with_its_newline_still_works(
    provider_for: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `export KEY=$(cat key.txt)` keeps no newline, but env files and secret mounts often do.
    monkeypatch.setenv("LLMROUTER_TEST_ANTHROPIC_KEY", "test-key-not-secret\n")
    provider = provider_for("anth")
    completion = await provider.complete(ProviderCall("m", request(), 5.0))
    assert completion.content == "Hello from m."
    assert upstream.requests[-1].headers["x-api-key"] == "test-key-not-secret"


async def test_a_header_that_cannot_be_sent_is_a_classified_failure(
    upstream: FakeUpstream,
) -> None:
    from router_svc.providers.transport import UpstreamClient

    # The transport classifies at its boundary (aiohttp's ValueError never leaves it).
    client = UpstreamClient(upstream.base_url, {"x-key": "a\nb"}, max_connections=1, name="p")
    try:
        with pytest.raises(ConnectionFailed) as caught:
            await client.post("/chat/completions", b"{}", httpx.Timeout(1.0), {})
    finally:
        await client.aclose()
    error = caught.value
    assert error.retryable
    assert "a\nb" not in str(error)


def test_every_configurable_kind_has_an_adapter() -> None:
    from router_svc.config import PROVIDER_KINDS
    from router_svc.providers import registered_kinds

    assert sorted(registered_kinds()) == sorted(PROVIDER_KINDS)


@pytest.mark.parametrize("kind", ["oai", "anth"])
async def test_a_finished_stream_that_falls_silent_is_an_answer(
    provider_for: Any, upstream: FakeUpstream, kind: str
) -> None:
    upstream.set("m", Behavior(chunks=5, hang_before_end=True))
    provider = provider_for(kind)
    started = asyncio.get_running_loop().time()
    events = [
        e async for e in provider.stream(ProviderCall("m", request(), 5.0, finish_grace_s=0.2))
    ]
    assert asyncio.get_running_loop().time() - started < 1.0
    assert "".join(e.content for e in events if isinstance(e, StreamDelta)) == "Hello from m."
    assert events[-1].finish_reason == "stop"
    assert events[-1].usage.completion_tokens == 5
    await upstream.wait_disconnects(1)  # the silent connection is closed, not left open
