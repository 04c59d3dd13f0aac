"""Attempt spans in-process (InMemorySpanExporter): content capture is off unless switched on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, router_service_pb2
from tests.fakes.upstream import Behavior, FakeUpstream

from .conftest import FakeMetrics, model


def chat(text: str) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)])


@pytest.mark.parametrize("capture", [False, True])
async def test_content_capture_switch(
    spans: InMemorySpanExporter, make_router: Any, capture: bool
) -> None:
    _, stub = await make_router((model("a"),), ("a",), capture_content=capture)
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("secret-prompt-42")))
    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "chat a"]
    (rpc,) = [
        s for s in spans.get_finished_spans() if s.name == "llmrouter.v1.RouterService/Complete"
    ]
    attributes = dict(attempt.attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    # The routing decision is on the RPC's span, the attempt its child.
    assert rpc.attributes is not None
    assert rpc.attributes["llmrouter.candidates"] == ("a",)
    assert attempt.parent is not None
    assert attempt.parent.span_id == rpc.context.span_id
    assert reply.trace_id == format(attempt.context.trace_id, "032x")
    everything = repr([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert ("secret-prompt-42" in everything) is capture
    assert ("Hello from a." in everything) is capture


@pytest.mark.parametrize("sampled", [True, False])
async def test_usage_records_point_at_exported_spans_only(
    spans: InMemorySpanExporter,
    make_router: Any,
    fake_metrics: tuple[FakeMetrics, Any],
    sampled: bool,
) -> None:
    # A caller's trace that it sampled, or not (W3C flags 01 / 00): the ledger's span for a
    # record is a child of the attempt span, so it may only name an attempt span that exists.
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-{'01' if sampled else '00'}"
    running, stub = await make_router((model("a"),), ("a",))
    reply = await stub.Complete(
        router_service_pb2.CompleteRequest(chat=chat("hello")),
        metadata=(("traceparent", parent),),
    )
    await running.outbox.flush()
    (record,) = fake_metrics[0].records.values()
    assert reply.trace_id == trace_id
    assert record.trace_id == trace_id
    attempts = [s for s in spans.get_finished_spans() if s.name == "chat a"]
    if sampled:
        (attempt,) = attempts
        assert record.span_id == format(attempt.context.span_id, "016x")
    else:
        assert attempts == []
        assert record.span_id == ""


async def test_a_cancelled_stream_ends_its_span_as_cancelled(
    spans: InMemorySpanExporter,
    make_router: Any,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.set("a", Behavior(chunks=50, chunk_delay_s=0.05))
    _, stub = await make_router((model("a"),), ("a",))
    call = stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat("hi")))
    first = [await call.read(), await call.read()]
    assert first[1].HasField("delta")  # streaming: the span is open and the client leaves
    call.cancel()
    name = "llmrouter.v1.RouterService/StreamComplete"
    for _ in range(100):
        if any(s.name == name for s in spans.get_finished_spans()):
            break
        await asyncio.sleep(0.02)
    (rpc,) = [s for s in spans.get_finished_spans() if s.name == name]
    assert rpc.attributes is not None
    assert rpc.attributes["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    # No "Failed to detach context" from a stream closed outside the context that opened it.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
