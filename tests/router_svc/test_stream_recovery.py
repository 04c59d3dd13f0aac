"""Streams that misbehave after their first token, through a real router over gRPC: a bad chunk
is skipped, a finished stream missing its end marker is an answer, a broken or stalled stream is
continued on a model that can continue it, or ends promptly with the original error."""

from __future__ import annotations

import time
from typing import Any

import grpc
import httpx
import pytest
from grpc_status import rpc_status
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.config import BreakerConfig, CategoryConfig, RetryConfig
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream
from tests.fakes._answer import split

from .conftest import FakeMetrics, model, wait_for
from .test_upstream_secrets import span_text

ONE_TRY = RetryConfig(attempts_per_model=1, stream_idle_timeout_s=0.5)
# 60 pieces of one text, the same on every model, so a continuation can be checked exactly.
WORDS = " ".join(f"w{i:02d}" for i in range(60))


def chat(text: str = "hello") -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="auto", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)]
    )


async def stream(stub: Any) -> tuple[list[Any], grpc.aio.AioRpcError | None]:
    """The chunks received, and the error that ended the stream (None: a summary came)."""
    received: list[Any] = []
    try:
        async for chunk in stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat())
        ):
            received.append(chunk)
    except grpc.aio.AioRpcError as exc:
        return received, exc
    return received, None


async def drain(source: Any, into: list[Any]) -> None:
    async for item in source:
        into.append(item)


def text_of(chunks: list[Any]) -> str:
    return "".join(c.delta.content for c in chunks if c.WhichOneof("chunk") == "delta")


async def test_bad_chunks_and_missing_end_markers_lose_no_answer(
    make_router: Any, upstream: FakeUpstream
) -> None:
    running, stub = await make_router(
        (model("a"), model("b", "anth")), ("a", "b"), retry=ONE_TRY, prometheus_port=free_port()
    )
    # One after the other in one router: a bad chunk mid-answer, then a finished stream
    # without its end marker (closed, or silent with the connection open: finalised, not
    # taken for a stall and continued elsewhere), on each of two wire formats.
    for name, behavior in [
        ("a", Behavior(chunks=6, garbage_at=3)),
        ("b", Behavior(chunks=6, garbage_at=2)),
        ("a", Behavior(chunks=6, drop_end_marker=True)),
        ("b", Behavior(chunks=6, drop_end_marker=True)),
        ("a", Behavior(chunks=6, hang_before_end=True)),
        ("b", Behavior(chunks=6, hang_before_end=True)),
    ]:
        upstream.set("a", behavior if name == "a" else Behavior(status=503))
        upstream.set("b", behavior)
        chunks, error = await stream(stub)
        assert error is None, error
        assert text_of(chunks) == f"Hello from {name}."
        summary = chunks[-1].summary
        assert summary.finish_reason == chat_pb2.FINISH_REASON_STOP
        assert summary.usage.completion_tokens == 6
        assert [a.model for a in summary.attempts] == (["a"] if name == "a" else ["a", "b"])
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert 'llmrouter_stream_chunks_skipped_total{provider="oai"} 1.0' in text
    assert 'llmrouter_stream_chunks_skipped_total{provider="anth"} 1.0' in text


# One category per way the answer can go on after "a" breaks; chosen by a keyword.
ROUTES = {
    "anth": ("a", "b"),  # Anthropic Messages: continues by default
    "olla": ("a", "c"),  # Ollama /api/chat: continues by default
    "vllm": ("a", "e", "d"),  # plain OpenAI (no continuation), then a vLLM-style server
    "plain": ("a", "e"),  # nothing can continue
    "reject": ("a", "f"),  # configured to continue, but the server refuses the parameter
}
MODELS = (
    model("a"),
    model("b", "anth"),
    model("c", "olla"),
    model("d", continuation=True),
    model("e"),
    model("f", continuation=True),
)
IDLE_S = 0.5


def category_chat(route: str) -> router_service_pb2.StreamCompleteRequest:
    return router_service_pb2.StreamCompleteRequest(chat=chat(f"please answer {route}"))


async def stream_route(stub: Any, route: str) -> tuple[list[Any], grpc.aio.AioRpcError | None]:
    received: list[Any] = []
    try:
        async for chunk in stub.StreamComplete(category_chat(route)):
            received.append(chunk)
    except grpc.aio.AioRpcError as exc:
        return received, exc
    return received, None


async def test_broken_streams_are_continued_seamlessly_or_end_with_the_original_error(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    categories = tuple(CategoryConfig(name, chain, (name,)) for name, chain in ROUTES.items())
    retry = RetryConfig(attempts_per_model=1, stream_idle_timeout_s=IDLE_S, ttft_timeout_s=5)
    # "a" breaks every time here: its breaker would open (and rightly skip it) after three.
    breaker = BreakerConfig(consecutive_failures=100, min_calls=100)
    _, stub = await make_router(MODELS, ("a",), categories=categories, retry=retry, breaker=breaker)
    metrics: FakeMetrics = fake_metrics[0]
    answered = {name: Behavior(chunks=60, text=WORDS) for name in "bcdef"}
    for name, behavior in answered.items():
        upstream.set(name, behavior)
    # One after the other in one router: cut and stalled streams continued by each kind of
    # model that can, then the two ways continuing fails.
    for route, breaks in [
        ("anth", Behavior(chunks=60, text=WORDS, cut_after=40)),
        ("anth", Behavior(chunks=60, text=WORDS, stall_after=40)),
        ("olla", Behavior(chunks=60, text=WORDS, cut_after=40)),
        ("vllm", Behavior(chunks=60, text=WORDS, stall_after=40)),
    ]:
        upstream.set("a", breaks)
        records_before = len(metrics.records)
        started = time.monotonic()
        chunks, error = await stream_route(stub, route)
        elapsed = time.monotonic() - started
        assert error is None, (route, error)
        # The whole answer once: nothing repeated, nothing lost; one start, one finish.
        assert text_of(chunks) == WORDS, route
        kinds = [c.WhichOneof("chunk") for c in chunks]
        assert kinds.count("start") == kinds.count("summary") == 1
        assert (kinds[0], kinds[-1]) == ("start", "summary")
        continuer = ROUTES[route][-1]
        summary = chunks[-1].summary
        assert [(a.model, a.status) for a in summary.attempts] == [
            ("a", chat_pb2.ATTEMPT_STATUS_FAILED),
            (continuer, chat_pb2.ATTEMPT_STATUS_SUCCEEDED),
        ]
        if breaks.stall_after is not None:
            assert IDLE_S <= elapsed < IDLE_S + 1.5, elapsed
        # Each attempt its own usage record: the broken one billed for what it relayed.
        await wait_for(lambda n=records_before: len(metrics.records) == n + 2)
        records = sorted(list(metrics.records.values())[records_before:], key=lambda r: r.attempt)
        assert [(r.model, r.status) for r in records] == [
            ("a", metrics_service_pb2.USAGE_STATUS_FAILED),
            (continuer, metrics_service_pb2.USAGE_STATUS_SUCCEEDED),
        ]
        assert records[0].completion_tokens > 0
        # The 20 pieces it added (Anthropic's prefill lost its trailing space, so its first
        # piece is the rest of piece 40).
        assert records[1].completion_tokens == (21 if route == "anth" else 20)
        assert summary.usage.completion_tokens == sum(r.completion_tokens for r in records)
    # The continuation requests, per each API's reference.
    vllm = [r for r in upstream.requests if r.model == "d"][-1].json
    assert vllm["continue_final_message"] is True
    assert vllm["add_generation_prompt"] is False
    assert vllm["messages"][-1]["role"] == "assistant"
    assert WORDS.startswith(vllm["messages"][-1]["content"])
    assert upstream.calls("e") == 0  # plain OpenAI was passed over, never asked
    claude = [r for r in upstream.requests if r.model == "b"][-1].json
    assert claude["messages"][-1]["role"] == "assistant"
    prefix = claude["messages"][-1]["content"][-1]["text"]
    assert prefix == prefix.rstrip()
    assert WORDS.startswith(prefix)

    # Nothing can continue: the interruption, as soon as the stall is seen.
    upstream.set("a", Behavior(chunks=60, text=WORDS, stall_after=40))
    started = time.monotonic()
    chunks, error = await stream_route(stub, "plain")
    assert error is not None
    assert time.monotonic() - started < IDLE_S + 1.0
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "STREAM_INTERRUPTED" in str(rpc_status.from_call(error))
    assert "a stalled after 40 chunks" in (error.details() or "")
    assert "summary" not in [c.WhichOneof("chunk") for c in chunks]

    # The only candidate refuses the prefill (400): the client still hears why the answer
    # broke, not the candidate's refusal.
    upstream.set("a", Behavior(chunks=60, text=WORDS, cut_after=40))
    upstream.set("f", Behavior(reject_prefill=True))
    chunks, error = await stream_route(stub, "reject")
    assert error is not None
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "STREAM_INTERRUPTED" in str(rpc_status.from_call(error))
    assert "a failed after 40 chunks" in (error.details() or "")
    assert upstream.calls("f") == 1


async def test_a_tool_call_cut_midway_is_not_continued(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router(
        MODELS, ("a", "b"), retry=RetryConfig(attempts_per_model=1, stream_idle_timeout_s=IDLE_S)
    )
    upstream.set("a", Behavior(chunks=8, cut_after=4))
    request = router_service_pb2.StreamCompleteRequest(chat=chat("weather?"))
    request.chat.tools.add(name="get_weather", parameters_json='{"type":"object"}')
    received: list[Any] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await drain(stub.StreamComplete(request), received)
    assert "STREAM_INTERRUPTED" in str(rpc_status.from_call(info.value))
    # Part of the call's arguments went out, then the error.
    assert any(c.WhichOneof("chunk") == "delta" for c in received)
    assert upstream.calls("b") == 0


async def test_a_continuation_keeps_to_the_callers_max_tokens(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router(
        MODELS, ("a", "d"), retry=RetryConfig(attempts_per_model=1, stream_idle_timeout_s=IDLE_S)
    )
    upstream.set("a", Behavior(chunks=60, text=WORDS, cut_after=40))
    upstream.set("d", Behavior(chunks=60, text=WORDS))
    request = router_service_pb2.StreamCompleteRequest(chat=chat())
    request.chat.max_tokens = 50
    chunks = [c async for c in stub.StreamComplete(request)]
    # 40 tokens from a, then only the 10 the caller still allows.
    assert upstream.requests[-1].json["max_tokens"] == 10
    pieces = split(WORDS, 60)
    assert text_of(chunks) == "".join(pieces[:50])
    assert chunks[-1].summary.finish_reason == chat_pb2.FINISH_REASON_LENGTH
    # Next, on the same router: a broke after the 40 tokens the caller allowed in all. Nothing
    # is left to ask for: the answer ends at its limit, no continuer asked for one token more.
    asked = upstream.calls("d")
    request.chat.max_tokens = 40
    chunks = [c async for c in stub.StreamComplete(request)]
    assert upstream.calls("d") == asked
    assert text_of(chunks) == "".join(pieces[:40])
    summary = chunks[-1].summary
    assert summary.finish_reason == chat_pb2.FINISH_REASON_LENGTH
    assert summary.usage.completion_tokens == 40
    assert [(a.model, a.status) for a in summary.attempts] == [
        ("a", chat_pb2.ATTEMPT_STATUS_FAILED)
    ]


ANSWER = " ".join(f"confidentialanswerpart{i:02d}" for i in range(20))
# What a server that refuses the final assistant message quotes back (as validation errors do).
RELAYED_HEAD = "confidentialanswerpart00 confidentialanswerpart01"


@pytest.mark.parametrize("refusal", ["http-400", "stream-error"])
async def test_a_continuer_quoting_the_answer_so_far_leaks_it_nowhere(
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: tuple[FakeMetrics, Any],
    spans: InMemorySpanExporter,
    refusal: str,
) -> None:
    # The answer relayed so far is content, like the prompt: an upstream error that quotes the
    # prefill must not carry it into errors, spans or the ledger.
    _, stub = await make_router(
        (model("a"), model("f", continuation=True)),
        ("a", "f"),
        retry=ONE_TRY,
        breaker=BreakerConfig(consecutive_failures=100, min_calls=100),
    )
    upstream.set("a", Behavior(chunks=20, text=ANSWER, cut_after=10))
    quoting = f"cannot continue final message '{RELAYED_HEAD}'"
    upstream.set(
        "f",
        Behavior(status=400, error_message=quoting)
        if refusal == "http-400"
        else Behavior(stream_error=quoting),
    )
    chunks, error = await stream(stub)
    assert error is not None
    assert RELAYED_HEAD.split()[0] in text_of(chunks)  # it was relayed: it is the answer so far
    assert "f: " in (error.details() or "")  # f was asked and failed
    records = fake_metrics[0].records
    await wait_for(lambda: len(records) == 2)
    await wait_for(
        lambda: any(s.name.endswith("StreamComplete") for s in spans.get_finished_spans())
    )
    assert "confidentialanswer" not in (error.details() or "")
    exported = "\n".join(map(span_text, spans.get_finished_spans()))
    assert "chat f" in exported
    assert "cannot continue final message" in exported
    assert "confidentialanswer" not in exported
    for record in records.values():
        assert b"confidentialanswer" not in record.SerializeToString()
