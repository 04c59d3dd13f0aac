"""Anthropic's 1-hour cache writes are priced at the 1-hour rate (issue 16, billing).

The fake follows the Messages API reference, ``usage.cache_creation``
(``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``) beside
``cache_creation_input_tokens``; Anthropic's pricing page ("Prompt caching") has 5-minute writes
at 1.25x and 1-hour writes at 2x the base input price. The ledger keeps all writes in
``cache_write_tokens``; only the cost tells them apart.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

# 12 input tokens, 1000 written to the cache of which 600 for an hour, 4 output tokens.
WRITES = Behavior(prompt_tokens=12, cache_write_tokens=1000, cache_write_1h_tokens=600, chunks=4)


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


@pytest.mark.parametrize(
    ("upstream_model", "prices", "cost"),
    [
        # genai-prices for claude-sonnet-4-5: $3 input, $3.75 5-minute, $6 1-hour write, $15
        # output: 12 * 3 + 400 * 3.75 + 600 * 6 + 4 * 15 (not 1000 * 3.75: $0.003846).
        pytest.param(
            "claude-sonnet-4-5",
            {"input_price_per_million": -1.0, "output_price_per_million": -1.0},
            0.005196,
            id="genai-prices",
        ),
        # Configured: 12 * 2 + 400 * 2.5 + 600 * 3 + 4 * 10.
        pytest.param(
            "claude-sonnet-4-5",
            {
                "input_price_per_million": 2.0,
                "output_price_per_million": 10.0,
                "cache_write_price_per_million": 2.5,
                "cache_write_1h_price_per_million": 3.0,
            },
            0.002864,
            id="configured",
        ),
        # A model genai-prices does not know, input $2: 1-hour writes at 2x the input price
        # (12 * 2 + 400 * 2.5 + 600 * 4 + 4 * 10).
        pytest.param(
            "house-claude",
            {
                "input_price_per_million": 2.0,
                "output_price_per_million": 10.0,
                "cache_write_price_per_million": 2.5,
            },
            0.003464,
            id="twice-the-input",
        ),
    ],
)
async def test_one_hour_cache_writes_are_priced_at_their_rate(
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: Any,
    upstream_model: str,
    prices: dict[str, float],
    cost: float,
) -> None:
    upstream.set(upstream_model, WRITES, WRITES)
    claude = model("claude", "anth", upstream_model=upstream_model, **prices)
    _, stub = await make_router((claude,), ("claude",), retry=RetryConfig(attempts_per_model=1))

    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    request = router_service_pb2.StreamCompleteRequest(chat=chat())
    chunks = [c async for c in stub.StreamComplete(request)]

    usages = [reply.usage, chunks[-1].summary.usage]
    assert [(u.prompt_tokens, u.cache_write_tokens) for u in usages] == [(1012, 1000)] * 2
    assert [u.cost_usd for u in usages] == [pytest.approx(cost)] * 2
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    rows = list(metrics.records.values())
    assert [(r.prompt_tokens, r.cache_write_tokens) for r in rows] == [(1012, 1000)] * 2
    assert [r.cost_usd for r in rows] == [pytest.approx(cost)] * 2
