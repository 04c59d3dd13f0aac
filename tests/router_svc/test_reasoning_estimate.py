"""A stream's estimated usage counts the reasoning it relayed in ``reasoning_tokens`` too (issue
16, the trial's finding 4: a cancelled stream that relayed 2,000 characters of reasoning was
billed 500 completion tokens but 0 reasoning tokens; reasoning tokens are part of the
completion, and the ledger prices and reports them apart).

The fakes send reasoning as the references describe it: DeepSeek's ``reasoning_content``
deltas (OpenAI-compatible) and Anthropic's ``thinking_delta`` events.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for
from .test_failover import chat

THINKS = "Let me think about hello at some length: " * 10  # 420 characters
ONE_TRY = RetryConfig(attempts_per_model=1, stream_idle_timeout_s=5, ttft_timeout_s=5)


def tokens(chars: int) -> int:
    return -(-chars // 4)


async def only_row(metrics: FakeMetrics) -> Any:
    await wait_for(lambda: len(metrics.records) == 1)
    (row,) = metrics.records.values()
    return row


@pytest.mark.parametrize("kind", ["oai", "anth"])
async def test_a_stream_abandoned_after_its_reasoning_bills_it_as_reasoning(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any, kind: str
) -> None:
    """The client leaves once the reasoning came, the answer's text being slow: the cancelled
    attempt's completion and reasoning tokens both count the reasoning relayed."""
    upstream.set("x", Behavior(reasoning=THINKS, chunk_delay_s=2.0, prompt_tokens=2))
    _, stub = await make_router((model("x", kind),), ("x",), retry=ONE_TRY)

    call = stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    relayed = ""
    async for chunk in call:
        relayed += chunk.delta.reasoning_content
        if relayed == THINKS:
            break
    call.cancel()

    row = await only_row(fake_metrics[0])
    assert (row.status, row.error_type) == (metrics_service_pb2.USAGE_STATUS_CANCELLED, "CANCELLED")
    # At least the reasoning: the first text piece may have been relayed too.
    assert row.completion_tokens >= tokens(len(THINKS))
    assert (row.reasoning_tokens, row.usage_estimated) == (tokens(len(THINKS)), True)


async def test_a_stream_broken_after_its_reasoning_bills_it_as_reasoning(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """Cut after two text pieces, no model to continue it: the failed attempt is billed the
    reasoning and text relayed, the reasoning in reasoning_tokens too."""
    upstream.set("x", Behavior(reasoning=THINKS, chunks=4, cut_after=2, prompt_tokens=2))
    _, stub = await make_router((model("x"),), ("x",), retry=ONE_TRY)

    text, error = "", None
    try:
        async for chunk in stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat())
        ):
            text += chunk.delta.content
    except grpc.aio.AioRpcError as exc:
        error = exc
    assert error is not None  # the answer broke, and the client is told

    row = await only_row(fake_metrics[0])
    assert row.status == metrics_service_pb2.USAGE_STATUS_FAILED
    assert row.completion_tokens == tokens(len(THINKS) + len(text))
    assert (row.reasoning_tokens, row.usage_estimated) == (tokens(len(THINKS)), True)


async def test_a_finished_stream_without_usage_estimates_its_reasoning_too(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """A server that reports no usage (OpenAI-compatible, include_usage ignored): the router's
    estimate of the completion counts the reasoning, and of the reasoning tokens likewise."""
    upstream.set("x", Behavior(reasoning=THINKS, omit_usage=True))
    _, stub = await make_router((model("x"),), ("x",), retry=ONE_TRY)

    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]

    usage = chunks[-1].summary.usage
    row = await only_row(fake_metrics[0])
    assert (row.reasoning_tokens, row.usage_estimated) == (tokens(len(THINKS)), True)
    assert (usage.reasoning_tokens, usage.completion_tokens) == (
        row.reasoning_tokens,
        row.completion_tokens,
    )
