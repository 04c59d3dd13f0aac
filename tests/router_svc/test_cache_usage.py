"""Cached-read, cache-write and reasoning tokens from the provider to the client and the ledger,
priced at the model's cache rates (issue 16, input 3 and the "Billing" cache rates).

The fakes follow the published references: OpenAI's chat completion object ``usage``
(``prompt_tokens_details.cached_tokens`` included in ``prompt_tokens``,
``completion_tokens_details.reasoning_tokens`` in ``completion_tokens``) and Anthropic's
Messages ``usage`` (``cache_read_input_tokens`` / ``cache_creation_input_tokens`` beside
``input_tokens``). Prices: genai-prices' table for claude-sonnet-4-5 ($3 input, $15 output,
$0.30 cache read, $3.75 cache write per million).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.chat import ChatRequest, Message, StreamEnd, TokenUsage
from router_svc.config import RetryConfig
from router_svc.errors import MalformedResponse
from router_svc.pricing import KnownPrices, lookup_prices
from router_svc.providers import Provider, ProviderCall, create_provider
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, fake_providers, model, wait_for

REQUEST = ChatRequest(model="m", messages=(Message("user", "Hello there"),))


@pytest.fixture
async def openai(upstream: FakeUpstream) -> Any:
    config = next(p for p in fake_providers(upstream) if p.kind == "openai")
    provider = create_provider(config)
    yield provider
    await provider.aclose()


async def both(provider: Provider) -> tuple[TokenUsage, TokenUsage]:
    """The usage of one unary and one streamed answer."""
    whole = await provider.complete(ProviderCall("m", REQUEST, 5.0))
    events = [e async for e in provider.stream(ProviderCall("m", REQUEST, 5.0))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    return whole.usage, end.usage


DETAILS = [
    pytest.param(
        Behavior(prompt_tokens=12, cache_read_tokens=2000, reasoning_tokens=30, chunks=4),
        TokenUsage(2012, 34, cache_read_tokens=2000, reasoning_tokens=30),
        id="cached-and-reasoning",
    ),
    pytest.param(
        Behavior(prompt_tokens=12, chunks=4),
        TokenUsage(12, 4),
        id="details-zero",
    ),
    pytest.param(
        Behavior(prompt_tokens=12, chunks=4, usage_details="absent"),
        TokenUsage(12, 4),
        id="details-absent",
    ),
    pytest.param(
        Behavior(prompt_tokens=12, chunks=4, usage_details="null"),
        TokenUsage(12, 4),
        id="details-null",
    ),
]


@pytest.mark.parametrize(("behavior", "expected"), DETAILS)
async def test_openai_usage_details_are_decoded_streamed_or_not(
    openai: Provider, upstream: FakeUpstream, behavior: Behavior, expected: TokenUsage
) -> None:
    upstream.set("m", behavior, behavior)
    assert await both(openai) == (expected, expected)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": "many"},
        {
            "prompt_tokens": 5,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": "3"},
        },
        {
            "prompt_tokens": 5,
            "completion_tokens": 1,
            "completion_tokens_details": {"reasoning_tokens": 1.5},
        },
    ],
    ids=["details-not-an-object", "cached-a-string", "reasoning-a-float"],
)
async def test_an_unreadable_usage_detail_malforms_an_answer_but_keeps_the_readable_counts(
    openai: Any, usage: dict[str, Any]
) -> None:
    """Unary: MALFORMED_RESPONSE (the request fails over), its failed attempt billed the
    prompt and completion the upstream reported, marked estimated (the unreadable detail
    counts as 0). Streamed after content: the usage chunk is read, not skipped; the same
    counts are billed, marked estimated. Before: the chunk was skipped whole, and the
    router's estimates billed as reported."""
    answer = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": usage,
    }
    with pytest.raises(MalformedResponse) as caught:
        openai.read_answer(ProviderCall("m", REQUEST, 5.0), orjson.dumps(answer))
    assert caught.value.usage == TokenUsage(5, 1, estimated=True)
    decoder = openai.decoder(ProviderCall("m", REQUEST, 5.0))
    decoder.feed(orjson.dumps({"choices": [{"delta": {"content": "hi"}}]}).decode())
    decoder.feed(orjson.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}]}).decode())
    decoder.feed(orjson.dumps({"choices": [], "usage": usage}).decode())
    end = decoder.finished()
    assert end is not None
    assert end.usage == TokenUsage(5, 1, estimated=True)


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


async def served(stub: Any) -> list[chat_pb2.Usage]:
    """The usage of one unary and one streamed request, as the client gets it."""
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    return [reply.usage, chunks[-1].summary.usage]


def counts(usage: Any) -> tuple[int, int, int, int, int]:
    return (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    )


async def test_anthropic_cache_reads_and_writes_are_priced_at_claudes_cache_rates(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """Issue 16, input 3: 12 input + 2000 cache-read tokens and 4 output tokens cost
    12 * $3 + 2000 * $0.30 + 4 * $15 per million = $0.000696 (not $0.006096 at the input
    rate), then a prompt of 12 + 1000 tokens written to the cache: $0.003846."""
    read = Behavior(prompt_tokens=12, cache_read_tokens=2000, chunks=4)
    write = Behavior(prompt_tokens=12, cache_write_tokens=1000, chunks=4)
    upstream.set("claude-sonnet-4-5", read, read, write, write)
    # No configured prices: genai-prices' table for claude-sonnet-4-5.
    claude = model(
        "claude",
        "anth",
        upstream_model="claude-sonnet-4-5",
        input_price_per_million=-1.0,
        output_price_per_million=-1.0,
    )
    _, stub = await make_router((claude,), ("claude",), retry=RetryConfig(attempts_per_model=1))

    usages = await served(stub) + await served(stub)

    assert [counts(u) for u in usages] == [(2012, 4, 2000, 0, 0)] * 2 + [(1012, 4, 0, 1000, 0)] * 2
    costs = [u.cost_usd for u in usages]
    assert costs == [pytest.approx(0.000696)] * 2 + [pytest.approx(0.003846)] * 2
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 4)
    rows = sorted(metrics.records.values(), key=lambda r: (r.cache_read_tokens, r.streamed))
    assert [(counts(r), r.streamed) for r in rows] == [
        ((1012, 4, 0, 1000, 0), False),
        ((1012, 4, 0, 1000, 0), True),
        ((2012, 4, 2000, 0, 0), False),
        ((2012, 4, 2000, 0, 0), True),
    ]
    assert [r.cost_usd for r in rows] == [pytest.approx(0.003846)] * 2 + [
        pytest.approx(0.000696)
    ] * 2


async def test_openai_cached_and_reasoning_tokens_reach_the_ledger_at_configured_rates(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """2012 prompt tokens of which 2000 cached, 34 completion tokens of which 30 reasoning, at
    $2.50 input, $1.25 configured cache read and $10 output: (12 * 2.5 + 2000 * 1.25 + 34 *
    10) / 1e6 = $0.00287; a model with no cache rate anywhere prices them at its input rate."""
    behavior = Behavior(prompt_tokens=12, cache_read_tokens=2000, reasoning_tokens=30, chunks=4)
    upstream.set("gpt", behavior, behavior)
    upstream.set("plain", behavior, behavior)
    gpt = model(
        "gpt",
        input_price_per_million=2.5,
        output_price_per_million=10.0,
        cache_read_price_per_million=1.25,
    )
    plain = model("plain", input_price_per_million=2.5, output_price_per_million=10.0)
    _, stub = await make_router(
        (gpt, plain), ("gpt", "plain"), retry=RetryConfig(attempts_per_model=1)
    )

    usages = await served(stub)
    upstream.set("gpt", Behavior(status=500), Behavior(status=500))
    usages += await served(stub)

    assert [counts(u) for u in usages] == [(2012, 34, 2000, 0, 30)] * 4
    assert [u.cost_usd for u in usages] == [pytest.approx(0.00287)] * 2 + [
        pytest.approx(0.00537)
    ] * 2
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 6)
    served_rows = sorted(
        (
            r
            for r in metrics.records.values()
            if r.status == metrics_service_pb2.USAGE_STATUS_SUCCEEDED
        ),
        key=lambda r: (r.model, r.streamed),
    )
    assert [(r.model, counts(r), round(r.cost_usd, 6)) for r in served_rows] == [
        ("gpt", (2012, 34, 2000, 0, 30), 0.00287),
        ("gpt", (2012, 34, 2000, 0, 30), 0.00287),
        ("plain", (2012, 34, 2000, 0, 30), 0.00537),
        ("plain", (2012, 34, 2000, 0, 30), 0.00537),
    ]


def test_genai_prices_cache_rates_are_read_at_the_base_tier() -> None:
    # claude-sonnet-4-5's prices double above 200K prompt tokens; a model's rates are its base
    # tier (pricing a million tokens at once gave $6 / $22.50). gpt-4o has no cache-write rate.
    assert lookup_prices("claude-sonnet-4-5", "anthropic") == KnownPrices(3.0, 15.0, 0.3, 3.75, 6.0)
    assert lookup_prices("gpt-4o", "openai") == KnownPrices(2.5, 10.0, 1.25, None)
