"""What a lost hedge is billed, through a real router over gRPC against the fake upstream over
HTTP: the usage its upstream reported before it lost (Anthropic's ``message_start``), not the
router's estimate, at the model's rates (cache reads at the cache-read rate)."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.v1 import metrics_service_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for
from .test_failover import chat
from .test_hedge import records_of

# $3 / $15 per million, cache reads at $0.30 (Anthropic's list prices of a Sonnet model).
CLAUDE = model(
    "claude",
    "anth",
    input_price_per_million=3.0,
    output_price_per_million=15.0,
    cache_read_price_per_million=0.3,
)


async def test_a_streamed_loser_is_billed_what_its_upstream_reported(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    retry = RetryConfig(hedge_after_s=0.2, budget_max_tokens=1000.0)
    _, stub = await make_router((CLAUDE, model("b")), ("claude", "b"), retry=retry)
    # message_start (12 input tokens, 2000 read from the cache, 1 output token), then silence:
    # the hedge b answers first.
    upstream.set("claude", Behavior(prompt_tokens=12, cache_read_tokens=2000, stall_after=0))
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert chunks[0].start.model == "b"
    request_id = chunks[0].start.id
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(records_of(metrics, request_id)) == 2)
    lost, won = records_of(metrics, request_id)
    assert (lost.model, lost.status, lost.error_type) == (
        "claude",
        metrics_service_pb2.USAGE_STATUS_CANCELLED,
        "HEDGE_LOST",
    )
    assert (lost.prompt_tokens, lost.completion_tokens, lost.cache_read_tokens) == (2012, 1, 2000)
    assert lost.cost_usd == pytest.approx((12 * 3.0 + 2000 * 0.3 + 1 * 15.0) / 1e6)
    # Its upstream may have gone on after what it reported: marked an estimate; b's are not.
    assert (lost.usage_estimated, won.model, won.usage_estimated) == (True, "b", False)
