"""Metrics-service observability: ledger spans joined to each request's trace, and Prometheus."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from prometheus_client import CollectorRegistry, Counter, Histogram

from llmrouter.telemetry import tracing_enabled
from llmrouter.v1 import metrics_service_pb2 as pb

__all__ = ["LedgerMetrics", "record_spans"]

_tracer = trace.get_tracer("llmrouter.metrics")


def record_spans(records: Iterable[pb.UsageRecord], inserted: bool) -> None:
    """One short ``usage.record`` span per record, child of the attempt span that produced it.

    The router ships records in batches, long after the request; parenting each record's span
    to its attempt puts the ledger hop into the request's own trace.
    """
    if not tracing_enabled():
        return
    for record in records:
        if len(record.trace_id) != 32 or len(record.span_id) != 16:
            continue
        try:
            parent = SpanContext(
                trace_id=int(record.trace_id, 16),
                span_id=int(record.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        except ValueError:
            continue
        context = trace.set_span_in_context(NonRecordingSpan(parent))
        span = _tracer.start_span(
            "usage.record",
            context=context,
            kind=SpanKind.CONSUMER,
            attributes={
                "llmrouter.usage.id": record.id,
                "llmrouter.usage.batch_inserted": inserted,
                "llmrouter.model": record.model,
                "llmrouter.cost_usd": record.cost_usd,
            },
        )
        span.end()


class LedgerMetrics:
    """Prometheus counters of the ledger, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records = Counter(
            "llmrouter_ledger_records",
            "Usage records received, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.queries = Histogram(
            "llmrouter_ledger_query_seconds",
            "Query latency by RPC",
            ["rpc"],
            registry=self.registry,
        )
