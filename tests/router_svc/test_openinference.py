"""``router.openinference``: OpenInference attributes beside the GenAI ones on the router's
spans (InMemorySpanExporter), names and meanings as in the OpenInference semantic conventions
(Arize-ai/openinference, spec/semantic_conventions.md). Off: not one of them; content only
with ``capture_content``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.breaker import CircuitBreaker
from router_svc.chat import TokenUsage
from router_svc.config import ModelConfig
from router_svc.policies import BreakerPolicy
from router_svc.registry import ModelEntry
from tests.fakes.upstream import Behavior, FakeUpstream

from .conftest import model

# Attribute name prefixes only OpenInference uses (GenAI's are gen_ai.*, ours llmrouter.*).
_OI_PREFIXES = ("openinference.", "llm.", "input.", "output.")
_COMPLETE = "llmrouter.v1.RouterService/Complete"


def chat(*texts: str) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=t) for t in texts],
        temperature=0.25,
        max_tokens=64,
    )


def chat_with_model(name: str) -> chat_pb2.ChatRequest:
    request = chat("hi")
    request.model = name
    return request


def attributes(spans: InMemorySpanExporter, name: str) -> list[Mapping[str, Any]]:
    return [dict(s.attributes or {}) for s in spans.get_finished_spans() if s.name == name]


def oi_keys(span: ReadableSpan) -> set[str]:
    return {k for k in (span.attributes or {}) if k.startswith(_OI_PREFIXES)}


@pytest.mark.parametrize("capture", [False, True], ids=["no-capture", "capture"])
async def test_switched_on_an_attempt_is_an_llm_span_with_tokens_and_cost(
    spans: InMemorySpanExporter, make_router: Any, capture: bool
) -> None:
    _, stub = await make_router(
        (model("a", upstream_model="gpt-4o-mini"),),
        ("a",),
        openinference=True,
        capture_content=capture,
    )
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("secret-prompt-7")))

    (attempt,) = attributes(spans, "chat gpt-4o-mini")
    assert attempt["openinference.span.kind"] == "LLM"
    assert attempt["llm.model_name"] == "gpt-4o-mini"
    assert attempt["llm.provider"] == "openai"
    assert attempt["llm.token_count.prompt"] == reply.usage.prompt_tokens > 0
    assert attempt["llm.token_count.completion"] == reply.usage.completion_tokens > 0
    assert attempt["llm.token_count.total"] == reply.usage.total_tokens
    assert attempt["llm.cost.total"] == reply.usage.cost_usd > 0
    assert attempt["llm.cost.prompt"] == pytest.approx(reply.usage.prompt_tokens * 1.0 / 1e6)
    assert attempt["llm.cost.completion"] == pytest.approx(
        reply.usage.completion_tokens * 2.0 / 1e6
    )
    assert attempt["llm.finish_reason"] == "stop"
    assert json.loads(attempt["llm.invocation_parameters"]) == {
        "max_tokens": 64,
        "temperature": 0.25,
    }
    # The GenAI attributes are all still there.
    assert attempt["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attempt["gen_ai.request.model"] == "gpt-4o-mini"
    # The router's RPC span is the chain the attempts hang from.
    (rpc,) = attributes(spans, _COMPLETE)
    assert rpc["openinference.span.kind"] == "CHAIN"

    content = {"input.value", "output.value", "llm.input_messages.0.message.content"}
    assert (content <= set(attempt)) is capture
    everything = repr([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert ("secret-prompt-7" in everything) is capture
    assert reply.message.content
    assert (reply.message.content in everything) is capture
    if capture:
        assert attempt["llm.input_messages.0.message.role"] == "user"
        assert attempt["llm.input_messages.0.message.content"] == "secret-prompt-7"
        assert json.loads(attempt["input.value"]) == [
            {"role": "user", "content": "secret-prompt-7"}
        ]
        assert attempt["output.value"] == reply.message.content
        assert attempt["llm.output_messages.0.message.role"] == "assistant"
        assert attempt["llm.output_messages.0.message.content"] == reply.message.content


@pytest.mark.parametrize("capture", [False, True], ids=["no-capture", "capture"])
async def test_switched_off_no_span_has_an_openinference_attribute(
    spans: InMemorySpanExporter, make_router: Any, upstream: FakeUpstream, capture: bool
) -> None:
    upstream.set("a", Behavior(status=503))
    _, stub = await make_router((model("a"), model("b")), ("a", "b"), capture_content=capture)
    await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hi")))

    finished = spans.get_finished_spans()
    assert {s.name for s in finished} >= {"chat a", "chat b", _COMPLETE}
    assert {s.name: oi_keys(s) for s in finished} == {s.name: set() for s in finished}


async def test_a_failover_is_one_trace_of_llm_spans_the_failed_one_without_tokens(
    spans: InMemorySpanExporter, make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=503))
    _, stub = await make_router((model("a"), model("b")), ("a", "b"), openinference=True)
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hi")))

    assert reply.model == "b"
    finished = {s.name: s for s in spans.get_finished_spans()}
    failed, served = dict(finished["chat a"].attributes or {}), finished["chat b"].attributes
    assert served is not None
    assert {failed["openinference.span.kind"], served["openinference.span.kind"]} == {"LLM"}
    assert not [k for k in failed if k.startswith(("llm.token_count.", "llm.cost."))]
    assert served["llm.token_count.total"] == reply.usage.total_tokens
    rpc = finished[_COMPLETE]
    for name in ("chat a", "chat b"):
        parent = finished[name].parent
        assert parent is not None
        assert (parent.trace_id, parent.span_id) == (rpc.context.trace_id, rpc.context.span_id)


async def test_cache_and_reasoning_parts_are_counted_and_priced(
    spans: InMemorySpanExporter, make_router: Any, upstream: FakeUpstream
) -> None:
    # Anthropic reports cache reads and writes beside an uncached input_tokens; the prompt
    # count includes them, as the conventions ask ("fold the cache read/write tokens back").
    upstream.set(
        "c",
        Behavior(prompt_tokens=100, cache_read_tokens=1000, cache_write_tokens=200),
    )
    upstream.set("r", Behavior(reasoning_tokens=30))
    prices = dict(cache_read_price_per_million=0.1, cache_write_price_per_million=1.25)
    _, stub = await make_router(
        (model("c", provider="anth", **prices), model("r")),
        ("c",),
        openinference=True,
    )
    cached = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hi")))
    reasoned = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat_with_model("r")))

    (c,) = attributes(spans, "chat c")
    assert c["llm.provider"] == "anthropic"
    assert c["llm.token_count.prompt"] == cached.usage.prompt_tokens == 1300
    assert c["llm.token_count.prompt_details.cache_read"] == 1000
    assert c["llm.token_count.prompt_details.cache_write"] == 200
    assert c["llm.cost.prompt_details.input"] == pytest.approx(100 * 1.0 / 1e6)
    assert c["llm.cost.prompt_details.cache_read"] == pytest.approx(1000 * 0.1 / 1e6)
    assert c["llm.cost.prompt_details.cache_write"] == pytest.approx(200 * 1.25 / 1e6)
    assert c["llm.cost.prompt"] + c["llm.cost.completion"] == pytest.approx(cached.usage.cost_usd)
    assert "llm.token_count.completion_details.reasoning" not in c

    (r,) = attributes(spans, "chat r")
    assert r["llm.token_count.completion_details.reasoning"] == 30
    assert r["llm.token_count.completion"] == reasoned.usage.completion_tokens
    assert r["llm.cost.completion_details.reasoning"] == pytest.approx(30 * 2.0 / 1e6)
    assert r["llm.cost.completion_details.output"] == pytest.approx(
        (reasoned.usage.completion_tokens - 30) * 2.0 / 1e6
    )
    assert "llm.token_count.prompt_details.cache_read" not in r


async def test_a_long_chat_keeps_the_token_counts_within_the_attribute_limit(
    spans: InMemorySpanExporter, make_router: Any
) -> None:
    # 200 messages flattened would be 400 attributes, past the SDK's 128 per span: the
    # SDK would drop the oldest without a word (the span kind, the GenAI attributes).
    _, stub = await make_router((model("a"),), ("a",), openinference=True, capture_content=True)
    texts = [f"message {i}" for i in range(200)]
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(*texts)))

    (attempt,) = attributes(spans, "chat a")
    assert attempt["openinference.span.kind"] == "LLM"
    assert attempt["gen_ai.operation.name"] == "chat"
    assert attempt["llm.token_count.total"] == reply.usage.total_tokens
    assert attempt["llm.input_messages.23.message.content"] == "message 199"
    assert attempt["llm.input_messages.0.message.content"] == "message 176"
    assert "llm.input_messages.24.message.content" not in attempt
    assert len(json.loads(attempt["input.value"])) == 200


async def test_a_stream_gets_the_same_attributes(
    spans: InMemorySpanExporter, make_router: Any
) -> None:
    _, stub = await make_router((model("a"),), ("a",), openinference=True, capture_content=True)
    call = stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat("hi")))
    chunks = [chunk async for chunk in call]

    final = chunks[-1].summary
    (attempt,) = attributes(spans, "chat a")
    assert attempt["openinference.span.kind"] == "LLM"
    assert attempt["llm.token_count.completion"] == final.usage.completion_tokens > 0
    assert attempt["output.value"] == "".join(c.delta.content for c in chunks)


@pytest.mark.parametrize(
    "usage",
    [
        TokenUsage(prompt_tokens=1000, completion_tokens=500),
        TokenUsage(prompt_tokens=1000, completion_tokens=500, reasoning_tokens=200),
        TokenUsage(1300, 40, cache_read_tokens=1000, cache_write_tokens=200),
        TokenUsage(1300, 40, cache_read_tokens=100, cache_write_tokens=900,
                   cache_write_1h_tokens=400),
        TokenUsage(10, 0, cache_read_tokens=50),  # more cached than the prompt: upstream's word
    ],
)  # fmt: skip
@pytest.mark.parametrize("cache_prices", [False, True])
def test_cost_parts_add_up_to_the_billed_cost(usage: TokenUsage, cache_prices: bool) -> None:
    rates = (0.3, 3.75, 6.0) if cache_prices else (None, None, None)
    entry = ModelEntry(
        ModelConfig(name="m", provider="p"),
        provider=None,  # type: ignore[arg-type]  # prices only
        input_price_per_million=3.0,
        output_price_per_million=15.0,
        enabled=True,
        breaker=CircuitBreaker(BreakerPolicy()),
        cache_read_price_per_million=rates[0],
        cache_write_price_per_million=rates[1],
        cache_write_1h_price_per_million=rates[2],
    )
    parts = entry.cost_parts(usage)
    assert parts.total_usd == pytest.approx(entry.cost(usage), rel=1e-12)
    assert parts.reasoning_usd == pytest.approx(usage.reasoning_tokens * 15.0 / 1e6)
