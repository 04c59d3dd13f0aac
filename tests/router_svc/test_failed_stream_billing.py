"""A stream attempt that fails before relaying any content is billed what its upstream had
reported (issue 16, billing: "an attempt that ends early keeps the tokens the upstream
reported"). The fake follows the Messages streaming reference: ``message_start`` carries the
input counts, then ``event: error`` ("Error events", e.g. ``overloaded_error``). Prices:
genai-prices' claude-sonnet-4-5 ($3 input, $15 output, $0.30 cache read, $3.75 cache write)."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


REPORTED = dict(prompt_tokens=10, cache_read_tokens=200, cache_write_tokens=50)


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(Behavior(**REPORTED, stream_error="Overloaded"), id="error-event"),
        pytest.param(Behavior(**REPORTED, cut_after=0), id="cut"),
        pytest.param(Behavior(**REPORTED, stall_after=0), id="first-token-late"),
    ],
)
async def test_a_stream_failing_before_content_is_billed_what_message_start_reported(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any, failing: Behavior
) -> None:
    """10 input + 200 cache-read + 50 cache-write tokens and message_start's 1 output token:
    (10 * 3 + 200 * 0.30 + 50 * 3.75 + 1 * 15) / 1e6 = $0.0002925, reported (not estimated);
    the fallback that answers is its own row. Before: the failed row said 0 tokens, $0."""
    upstream.set("claude-sonnet-4-5", failing)
    claude = model(
        "claude",
        "anth",
        upstream_model="claude-sonnet-4-5",
        input_price_per_million=-1.0,
        output_price_per_million=-1.0,
    )
    retry = RetryConfig(attempts_per_model=1, ttft_timeout_s=0.5)
    _, stub = await make_router((claude, model("b")), ("claude", "b"), retry=retry)

    request = router_service_pb2.StreamCompleteRequest(chat=chat())
    chunks = [c async for c in stub.StreamComplete(request)]

    assert chunks[-1].summary.model == "b"
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    failed = next(
        r for r in metrics.records.values() if r.status == metrics_service_pb2.USAGE_STATUS_FAILED
    )
    assert (
        failed.prompt_tokens,
        failed.completion_tokens,
        failed.cache_read_tokens,
        failed.cache_write_tokens,
        failed.usage_estimated,
    ) == (260, 1, 200, 50, False)
    assert failed.cost_usd == pytest.approx(0.0002925)


async def test_a_stream_failing_before_any_usage_is_billed_nothing(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """message_start without usage, then an error: nothing reported, nothing estimated."""
    failing = Behavior(start_usage="absent", stream_error="Overloaded", stream_error_after=0)
    upstream.set("claude-sonnet-4-5", failing)
    claude = model(
        "claude",
        "anth",
        upstream_model="claude-sonnet-4-5",
        input_price_per_million=3.0,
        output_price_per_million=15.0,
    )
    _, stub = await make_router((claude,), ("claude",), retry=RetryConfig(attempts_per_model=1))
    request = router_service_pb2.StreamCompleteRequest(chat=chat())
    with pytest.raises(Exception):  # noqa: B017, PT011 - the stream ends with an error
        _ = [c async for c in stub.StreamComplete(request)]
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 1)
    (row,) = metrics.records.values()
    assert (row.prompt_tokens, row.completion_tokens, row.cost_usd, row.usage_estimated) == (
        0,
        0,
        0.0,
        False,
    )
