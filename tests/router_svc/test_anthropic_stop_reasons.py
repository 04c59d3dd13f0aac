"""Anthropic's stop reasons (API reference, "Handling stop reasons") as finish reasons, unary
and streamed, through the adapter over real HTTP and through a router: a reply cut at the
model's context window is ``length``; a paused turn (``pause_turn``) is no finished answer
but a failure the router fails over from (or continues); a reason the adapter does not know is
``stop`` and counted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.chat import ChatRequest, Message, StreamEnd, TokenUsage
from router_svc.config import RetryConfig
from router_svc.errors import UpstreamPaused
from router_svc.providers import Provider, ProviderCall
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for
from .test_anthropic_usage import anthropic  # noqa: F401  (the adapter fixture)
from .test_failover import chat

REQUEST = ChatRequest(model="m", messages=(Message("user", "Hello there"),))


async def unary(provider: Provider) -> str:
    return (await provider.complete(ProviderCall("m", REQUEST, 5.0))).finish_reason


async def streamed(provider: Provider) -> str:
    events = [e async for e in provider.stream(ProviderCall("m", REQUEST, 5.0))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    return end.finish_reason


@pytest.mark.parametrize("read", [unary, streamed])
@pytest.mark.parametrize(
    ("stop_reason", "finish", "unknown"),
    [
        pytest.param("model_context_window_exceeded", "length", 0, id="context-window"),
        pytest.param("max_tokens", "length", 0, id="max-tokens"),
        pytest.param("a_reason_from_a_newer_api", "stop", 1, id="unknown"),
    ],
)
async def test_stop_reasons_as_finish_reasons(
    anthropic: Provider,  # noqa: F811
    upstream: FakeUpstream,
    read: Any,
    stop_reason: str,
    finish: str,
    unknown: int,
) -> None:
    upstream.set("m", Behavior(stop_reason=stop_reason))
    assert await read(anthropic) == finish
    assert anthropic.unknown_stop_reasons == unknown


@pytest.mark.parametrize("read", [unary, streamed])
async def test_a_paused_turn_is_no_answer(
    anthropic: Provider,  # noqa: F811
    upstream: FakeUpstream,
    read: Any,
) -> None:
    upstream.set("m", Behavior(stop_reason="pause_turn", prompt_tokens=40))
    with pytest.raises(UpstreamPaused) as raised:
        await read(anthropic)
    assert raised.value.reason == "UPSTREAM_PAUSED"
    assert raised.value.retryable
    if read is unary:
        assert raised.value.usage == TokenUsage(40, 4)
    assert anthropic.unknown_stop_reasons == 0


async def test_a_paused_turn_fails_over_and_is_billed(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """One router, in turn: a paused whole answer is answered by the next model, the paused
    attempt billed what its upstream reported; then a paused stream before its content."""
    claude = model("claude", "anth", input_price_per_million=3.0, output_price_per_million=15.0)
    running, stub = await make_router(
        (claude, model("b")),
        ("claude", "b"),
        retry=RetryConfig(attempts_per_model=1),
        prometheus_port=free_port(),
    )
    upstream.set("claude", Behavior(stop_reason="pause_turn", prompt_tokens=40))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert (reply.model, reply.message.content) == ("b", "Hello from b.")
    assert [(a.model, a.error_type) for a in reply.attempts] == [
        ("claude", "UPSTREAM_PAUSED"),
        ("b", ""),
    ]
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    paused = next(r for r in metrics.records.values() if r.model == "claude")
    assert paused.status == metrics_service_pb2.USAGE_STATUS_FAILED
    assert (paused.prompt_tokens, paused.completion_tokens) == (40, 4)
    assert paused.cost_usd == pytest.approx((40 * 3.0 + 4 * 15.0) / 1e6)
    assert not paused.usage_estimated  # the upstream reported them

    # Streamed, paused with no text: fails over before anything reached the client.
    upstream.set("claude", Behavior(stop_reason="pause_turn", text=""))
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert chunks[0].start.model == "b"
    summary = chunks[-1].summary
    assert [(a.model, a.status, a.error_type) for a in summary.attempts] == [
        ("claude", chat_pb2.ATTEMPT_STATUS_FAILED, "UPSTREAM_PAUSED"),
        ("b", chat_pb2.ATTEMPT_STATUS_SUCCEEDED, ""),
    ]

    # A reason the adapter does not know: the answer is kept (finished as stop) and counted.
    upstream.set("claude", Behavior(stop_reason="a_reason_from_a_newer_api"))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert (reply.model, reply.finish_reason) == ("claude", chat_pb2.FINISH_REASON_STOP)
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert 'llmrouter_unknown_stop_reasons_total{provider="anth"} 1.0' in text


async def test_a_stream_paused_after_its_text_is_continued(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """The paused answer's text reached the client: a model that can continue it does, and
    the client sees one answer with one finish; the paused attempt is billed its counts."""
    claude = model("claude", "anth")
    _, stub = await make_router(
        (claude, model("d", continuation=True)),
        ("claude", "d"),
        retry=RetryConfig(attempts_per_model=1),
    )
    upstream.set("claude", Behavior(stop_reason="pause_turn", prompt_tokens=40))
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert chunks[0].start.model == "claude"
    text = "".join(c.delta.content for c in chunks if c.WhichOneof("chunk") == "delta")
    assert text.startswith("Hello from claude.")
    summary = chunks[-1].summary
    assert summary.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert [(a.model, a.error_type) for a in summary.attempts] == [
        ("claude", "UPSTREAM_PAUSED"),
        ("d", ""),
    ]
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    paused = next(r for r in metrics.records.values() if r.model == "claude")
    # Settled as a broken stream: the prompt its upstream reported; the completion the larger
    # of the count reported (4) and the text relayed (18 characters, 5 tokens), an estimate.
    assert (paused.prompt_tokens, paused.completion_tokens, paused.usage_estimated) == (
        40,
        5,
        True,
    )
