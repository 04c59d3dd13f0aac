"""OpenTelemetry set-up shared by the three services, configured only from ``OTEL_*``.

With no exporter endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT``) nothing
is configured: the API stays a no-op, no interceptor is installed and nothing is spent.
Otherwise spans go through a bounded ``BatchSpanProcessor`` (export never blocks a request;
when the queue is full, spans are dropped) to OTLP over gRPC, or HTTP when
``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``. Sampler, queue sizes and resource attributes
come from the standard variables the SDK reads itself (``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.semconv._incubating.attributes import rpc_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = [
    "Tracing",
    "configure_tracing",
    "inject_headers",
    "traced_handler",
    "traced_stub",
    "tracing_enabled",
]

log = logging.getLogger(__name__)

# Spans waiting for export, at most; beyond that new spans are dropped, never waited for.
_QUEUE = 4096
# Spans per export, unless OTEL_BSP_MAX_EXPORT_BATCH_SIZE says otherwise. The export thread
# encodes a batch holding the GIL: the SDK's 512 stalled requests for tens of milliseconds
# (c=1 p99 in `make bench`); 64 keeps each stall near 2 ms.
_BATCH = 64


class Tracing:
    """The configured SDK provider (or nothing); ``shutdown`` flushes pending spans."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider

    @property
    def enabled(self) -> bool:
        """True when spans are recorded and exported."""
        return self.provider is not None

    def shutdown(self) -> None:
        """Export what is queued (bounded by the exporter's timeout) and stop."""
        if self.provider is not None:
            self.provider.shutdown()


_enabled = False


def tracing_enabled() -> bool:
    """Whether this process exports spans (hot paths skip tracing work when not)."""
    return _enabled


def configure_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> Tracing:
    """Configure the SDK from ``OTEL_*`` variables; a no-op without an OTLP endpoint."""
    global _enabled
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Tracing(None)
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return Tracing(None)
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint:
        return Tracing(None)
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    exporter: Any
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        exporter = Http()
    else:
        # The SDK's gRPC exporter with a faster encoder (llmrouter.otlp_encode).
        from llmrouter.otlp_encode import FastOTLPSpanExporter

        exporter = FastOTLPSpanExporter()
    queue = _positive(env, "OTEL_BSP_MAX_QUEUE_SIZE", _QUEUE)
    batch = min(_positive(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", _BATCH), queue)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=queue, max_export_batch_size=batch)
    )
    trace.set_tracer_provider(provider)
    _enabled = True
    return Tracing(provider)


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer variable; like the SDK, a bad value is logged and ignored."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        log.warning("%s=%r is not a positive integer; using %d", name, text, default)
        return default
    return value


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent`` (and baggage) of the current span to ``headers`` when tracing."""
    if _enabled:
        propagate.inject(headers)
    return headers


# Methods of gRPC's own services (health, reflection): no span.
_UNTRACED = ("/grpc.",)


def traced_handler(method: str, handler: Any) -> Any:
    """``handler`` in a SERVER span per call, continuing the caller's trace from the metadata.

    Applied once per method when the server registers it (see :mod:`llmrouter.serving`): a
    server interceptor would rebuild this wrapper, and add a coroutine layer, on every call.
    """
    if method.startswith(_UNTRACED):
        return handler
    service, _, name = method.lstrip("/").partition("/")
    attributes = {
        rpc_attributes.RPC_SYSTEM: "grpc",
        rpc_attributes.RPC_SERVICE: service,
        rpc_attributes.RPC_METHOD: name,
    }
    tracer = trace.get_tracer("llmrouter.grpc")
    span_name = f"{service}/{name}"

    def start(context: grpc.aio.ServicerContext[Any, Any]) -> trace.Span:
        carrier = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        return tracer.start_span(
            span_name,
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
        )

    def finish(
        span: trace.Span, context: grpc.aio.ServicerContext[Any, Any], cancelled: bool = False
    ) -> None:
        code = grpc.StatusCode.CANCELLED if cancelled else context.code() or grpc.StatusCode.OK
        if isinstance(code, grpc.StatusCode):
            span.set_attribute(rpc_attributes.RPC_GRPC_STATUS_CODE, code.value[0])
            if code not in (
                grpc.StatusCode.OK,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.CANCELLED,
            ):
                span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()

    async def call(method: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        span = start(context)
        cancelled = False
        try:
            with trace.use_span(span, end_on_exit=False):
                return await method(request, context)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            finish(span, context, cancelled)

    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return await call(unary, request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        streaming = handler.unary_stream

        async def unary_stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            span = start(context)
            current = trace.set_span_in_context(span)
            items = streaming(request, context)
            cancelled = False
            try:
                while True:
                    # The span is current only while the handler runs: a stream the caller
                    # cancels is closed between items, from a context that never attached it.
                    token = otel_context.attach(current)
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        return
                    finally:
                        otel_context.detach(token)
                    yield item
            except (asyncio.CancelledError, GeneratorExit):
                cancelled = True
                raise
            finally:
                await items.aclose()
                finish(span, context, cancelled)

        async def unary_writes(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            # Handlers that stream with context.write() (the health service's Watch).
            await call(streaming, request, context)

        return grpc.unary_stream_rpc_method_handler(
            unary_stream if inspect.isasyncgenfunction(streaming) else unary_writes,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class _Traced:
    """A stub method whose calls carry the current trace context in their metadata."""

    __slots__ = ("_call",)

    def __init__(self, call: Any) -> None:
        self._call = call

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if carrier:
            metadata = (*(metadata or ()), *carrier.items())
        return self._call(request, metadata=metadata, **kwargs)


_Stub = TypeVar("_Stub")


def traced_stub(stub: _Stub) -> _Stub:
    """``stub`` with calls carrying the current trace context (``stub`` itself when not tracing).

    Cheaper than channel interceptors, under which ``grpc.aio`` runs every call in an extra
    task whether or not it is traced.
    """
    if not _enabled:
        return stub
    for name, value in list(vars(stub).items()):
        if callable(value):
            setattr(stub, name, _Traced(value))
    return stub
