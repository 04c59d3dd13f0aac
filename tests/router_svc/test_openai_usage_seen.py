"""OpenAI-compatible answers: usage reported mid-stream is kept when the stream breaks, and the
unary answer is the choice with ``index`` 0 (issue 16, billing and response fields).

The fake follows vLLM's ``stream_options.continuous_usage_stats`` (each chunk carries the
running usage) and the chat completion object's ``choices[].index`` (API reference)."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
import pytest

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.chat import ChatRequest, Message, TokenUsage
from router_svc.config import RetryConfig
from router_svc.providers import ProviderCall, create_provider
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, fake_providers, model, wait_for

REQUEST = ChatRequest(model="m", messages=(Message("user", "Hello there"),))


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


async def test_a_stream_cut_after_per_chunk_usage_is_billed_the_reported_prompt(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """500 prompt tokens (of which 100 cached) reported with each chunk, cut after 3 chunks:
    the failed row has the reported 500 prompt tokens (the estimate of "hello" was ~2), 100
    cache reads, and the 3 completion tokens reported; $ = (400 * 1 + 100 * 0.5 + 3 * 2) / 1e6
    at the configured prices."""
    upstream.set(
        "m",
        Behavior(
            prompt_tokens=400, cache_read_tokens=100, chunks=8, continuous_usage=True, cut_after=3
        ),
    )
    priced = model("m", cache_read_price_per_million=0.5)
    _, stub = await make_router((priced,), ("m",), retry=RetryConfig(attempts_per_model=1))

    request = router_service_pb2.StreamCompleteRequest(chat=chat())
    with pytest.raises(grpc.aio.AioRpcError):
        _ = [c async for c in stub.StreamComplete(request)]

    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 1)
    (row,) = metrics.records.values()
    assert row.status == metrics_service_pb2.USAGE_STATUS_FAILED
    assert (row.prompt_tokens, row.cache_read_tokens, row.completion_tokens) == (500, 100, 3)
    assert row.cost_usd == pytest.approx((400 * 1 + 100 * 0.5 + 3 * 2) / 1e6)


async def test_the_decoder_reads_the_running_usage_on_demand(upstream: FakeUpstream) -> None:
    provider = create_provider(next(p for p in fake_providers(upstream) if p.kind == "openai"))
    try:
        decoder = provider.decoder(ProviderCall("m", REQUEST, 5.0))  # type: ignore[attr-defined]
        assert decoder.seen() is None
        chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None}
        decoder.feed(orjson.dumps(chunk).decode())
        assert decoder.seen() is None  # usage: null until the end (OpenAI)
        chunk["usage"] = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
        decoder.feed(orjson.dumps(chunk).decode())
        assert decoder.seen() == TokenUsage(9, 1)
    finally:
        await provider.aclose()


async def test_the_unary_answer_is_the_choice_with_index_0(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("m", Behavior(choices_reversed=True))
    _, stub = await make_router((model("m"),), ("m",))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert reply.message.content == "Hello from m."


@pytest.mark.parametrize(
    ("choices", "content"),
    [
        ([{"message": {"content": "only"}, "finish_reason": "stop"}], "only"),
        (
            [
                {"index": 1, "message": {"content": "two"}, "finish_reason": "stop"},
                {"index": 0, "message": {"content": "one"}, "finish_reason": "stop"},
            ],
            "one",
        ),
    ],
    ids=["no-index", "reversed"],
)
async def test_decode_reads_index_0_and_a_missing_index_is_the_position(
    upstream: FakeUpstream, choices: list[Any], content: str
) -> None:
    provider = create_provider(next(p for p in fake_providers(upstream) if p.kind == "openai"))
    try:
        answer = provider.decode(  # type: ignore[attr-defined]
            ProviderCall("m", REQUEST, 5.0), {"choices": choices}
        )
        assert answer.content == content
        with pytest.raises(KeyError):
            provider.decode(  # type: ignore[attr-defined]
                ProviderCall("m", REQUEST, 5.0), {"choices": [{"index": 2, "message": {}}]}
            )
    finally:
        await provider.aclose()
