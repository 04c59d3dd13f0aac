"""Reasoning text through a real router over gRPC (issue 16): relayed as the upstream gave it,
unary and streamed; a stream broken after it is continued with the answer's text only (the
reasoning is not replayed, and a continuer's own reasoning is relayed without closing the
seam); billed as output when a broken stream is estimated; and, being content, never on a span,
content capture on or off (capture records the answer's text only)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.config import BreakerConfig, RetryConfig
from tests.fakes import Behavior, FakeUpstream
from tests.fakes._answer import split

from .conftest import FakeMetrics, model, wait_for
from .test_stream_recovery import WORDS, chat, stream, text_of
from .test_upstream_secrets import span_text

ONE_TRY = RetryConfig(attempts_per_model=1, stream_idle_timeout_s=0.5, ttft_timeout_s=5)
A_THINKS = "A: the user says hello; list sixty words."
B_THINKS = "B: continue the list where it stopped."


def reasoning_of(chunks: list[Any]) -> str:
    return "".join(c.delta.reasoning_content for c in chunks if c.WhichOneof("chunk") == "delta")


async def test_a_stream_broken_after_reasoning_is_continued_with_its_text_only(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    breaker = BreakerConfig(consecutive_failures=100, min_calls=100)
    _, stub = await make_router(
        (model("a"), model("b", "anth")), ("a", "b"), retry=ONE_TRY, breaker=breaker
    )
    metrics: FakeMetrics = fake_metrics[0]
    # "a" (OpenAI-compatible, DeepSeek's reasoning_content) reasons, then breaks after 40
    # pieces; the text so far ends in a space, so the seam is open when "b" (Anthropic, a
    # thinking block first) continues it.
    upstream.set("a", Behavior(chunks=60, text=WORDS, cut_after=40, reasoning=A_THINKS))
    upstream.set("b", Behavior(chunks=60, text=WORDS, reasoning=B_THINKS))

    chunks, error = await stream(stub)

    assert error is None, error
    assert text_of(chunks) == WORDS
    assert reasoning_of(chunks) == A_THINKS + B_THINKS
    # The continuer was given the answer's text as its prefill, no reasoning.
    prefill = upstream.requests[-1].json["messages"][-1]["content"][-1]["text"]
    relayed = "".join(split(WORDS, 60)[:40])
    assert prefill == relayed.rstrip()
    assert "A:" not in str(upstream.requests[-1].json)
    # The broken attempt reported no usage: billed one token per four characters it relayed,
    # its reasoning included (reasoning tokens are output tokens).
    await wait_for(lambda: len(metrics.records) == 2)
    broken = next(r for r in metrics.records.values() if r.model == "a")
    assert broken.status == metrics_service_pb2.USAGE_STATUS_FAILED
    assert broken.completion_tokens == -(-(len(relayed) + len(A_THINKS)) // 4)


@pytest.mark.parametrize("capture", [False, True])
async def test_reasoning_is_relayed_and_never_on_a_span(
    make_router: Any, upstream: FakeUpstream, spans: InMemorySpanExporter, capture: bool
) -> None:
    models = (model("a"), model("b", "anth"), model("c", "olla"))
    _, stub = await make_router(models, ("a",), capture_content=capture)
    for name in "abc":
        upstream.set(name, Behavior(reasoning=f"{name} reasons: {A_THINKS}"))
        ask = chat()
        ask.model = name
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=ask))
        assert reply.reasoning_content == f"{name} reasons: {A_THINKS}"
        assert reply.message.content == f"Hello from {name}."
        chunks = [
            c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=ask))
        ]
        assert reasoning_of(chunks) == f"{name} reasons: {A_THINKS}"
        assert text_of(chunks) == f"Hello from {name}."
        assert chunks[-1].summary.finish_reason == chat_pb2.FINISH_REASON_STOP
    exported = "\n".join(span_text(span) for span in spans.get_finished_spans())
    assert "reasons:" not in exported
    # Capture records the answer's text (the rule reasoning follows: content, on no span
    # unless captured; and capture records the answer alone).
    assert ("Hello from a." in exported) is capture
