"""The fast OTLP encoder produces exactly the SDK encoder's message."""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import NonRecordingSpan, TraceState

from llmrouter.otlp_encode import FastOTLPSpanExporter, encode_spans

ATTRIBUTES = {
    "text": "héllo",
    "flag": True,
    "off": False,
    "count": 42,
    "negative": -7,
    "ratio": 0.25,
    "names": ("a", "b"),
    "numbers": (1, 2, 3),
    "floats": (0.5, 1.5),
    "flags": (True, False),
    "empty": "",
}


def _spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    for service in ("gateway", "router"):
        provider = TracerProvider(
            resource=Resource.create({"service.name": service}, schema_url="https://x/1.0")
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        plain = provider.get_tracer("plain")
        versioned = provider.get_tracer(
            "versioned", "1.2.3", schema_url="https://s/1", attributes={"scope.attr": "v"}
        )
        remote = SpanContext(
            trace_id=0x0123456789ABCDEF0123456789ABCDEF,
            span_id=0x0123456789ABCDEF,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            trace_state=TraceState([("vendor", "value"), ("other", "x")]),
        )
        parent_context = trace.set_span_in_context(NonRecordingSpan(remote))
        with plain.start_as_current_span(
            "server", context=parent_context, kind=SpanKind.SERVER, attributes=ATTRIBUTES
        ) as server:
            server.add_event("received", {"bytes": 12, "names": ["x"]})
            server.add_event("bare")
            with versioned.start_as_current_span(
                "client",
                kind=SpanKind.CLIENT,
                links=[Link(remote, {"why": "batch"}), Link(server.get_span_context())],
            ) as client:
                client.set_status(Status(StatusCode.ERROR, "upstream said no"))
            for kind in (SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER):
                span = plain.start_span(f"k{kind.value}", kind=kind)
                span.set_status(Status(StatusCode.OK))
                span.end()
    return list(exporter.get_finished_spans())


def test_same_message_as_the_sdk_encoder() -> None:
    spans = _spans()
    ours = encode_spans(spans)
    assert ours == sdk_encode(spans)
    assert ours.SerializeToString(deterministic=True) == sdk_encode(spans).SerializeToString(
        deterministic=True
    )
    # Both resources and both scopes of each are there, every span once.
    assert len(ours.resource_spans) == 2
    assert sum(len(s.spans) for r in ours.resource_spans for s in r.scope_spans) == len(spans)


def test_empty_batch() -> None:
    assert encode_spans([]) == sdk_encode([])


def test_exporter_uses_the_fast_encoder() -> None:
    exporter = FastOTLPSpanExporter(endpoint="http://127.0.0.1:9", insecure=True, timeout=1)
    try:
        spans = _spans()
        assert exporter._translate_data(spans) == sdk_encode(spans)
    finally:
        exporter.shutdown()


def test_timestamps_survive() -> None:
    before = time.time_ns()
    spans = _spans()
    encoded = encode_spans(spans)
    starts = [
        s.start_time_unix_nano
        for r in encoded.resource_spans
        for ss in r.scope_spans
        for s in ss.spans
    ]
    assert all(start >= before for start in starts)


def test_a_value_protobuf_refuses_costs_that_attribute_not_the_batch() -> None:
    exporter_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter_spans))
    span = provider.get_tracer("t").start_span("big", attributes={"huge": 2**70, "ok": "yes"})
    span.end()
    spans = [*exporter_spans.get_finished_spans(), *_spans()]
    exporter = FastOTLPSpanExporter(endpoint="http://127.0.0.1:9", insecure=True, timeout=1)
    try:
        encoded = exporter._translate_data(spans)
    finally:
        exporter.shutdown()
    assert encoded == sdk_encode(spans)
    names = [s.name for r in encoded.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert len(names) == len(spans)
