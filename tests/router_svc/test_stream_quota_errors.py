"""A quota that runs out mid-stream is QUOTA_EXHAUSTED, not an overloaded upstream (issue 16,
error dialects): Anthropic's ``error`` event of type ``billing_error`` (API reference,
"Errors": 402 billing_error; streams carry the same types as ``event: error``) and an
OpenAI-compatible stream's error object with code ``insufficient_quota`` (OpenAI's error-codes
guide; OpenRouter's "Errors during streaming" sends the error object as a data event). The
model is not retried (a quota does not come back in a backoff) and the request fails over."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


@pytest.mark.parametrize(
    ("provider", "code"),
    [("anth", "billing_error"), ("oai", "insufficient_quota")],
)
async def test_a_quota_error_event_fails_over_without_retrying_the_model(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any, provider: str, code: str
) -> None:
    broke = Behavior(stream_error="Your credit balance is too low", error_code=code)
    upstream.set("spent", broke, broke)
    spent = model("spent", provider)
    retry = RetryConfig(attempts_per_model=2, backoff_base_s=0.01, backoff_max_s=0.01)
    _, stub = await make_router((spent, model("b")), ("spent", "b"), retry=retry)

    request = router_service_pb2.StreamCompleteRequest(chat=chat())
    chunks = [c async for c in stub.StreamComplete(request)]

    assert chunks[-1].summary.model == "b"
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    rows = sorted(metrics.records.values(), key=lambda r: r.model)
    assert [(r.model, r.error_type) for r in rows] == [
        ("b", ""),
        ("spent", "UPSTREAM_QUOTA_EXHAUSTED"),
    ]
