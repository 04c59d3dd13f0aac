"""Prometheus metrics of the router: attempts, latency, time to first token, fallbacks, retries,
breaker states, tokens, cost, upstream connection pools and the usage outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .breaker import BreakerState
from .cache.serving import LOOKUP_RESULTS
from .prom_attempts import AttemptMetrics
from .providers.base import Provider
from .registry import Registry
from .usage import UsageEvent, UsageOutbox

__all__ = ["RouterMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class _Live(Collector):
    """Values read at scrape time: breaker states and outbox depth."""

    def __init__(self, registry: Registry, outbox: UsageOutbox) -> None:
        self._registry = registry
        self._outbox = outbox

    def collect(self) -> Iterable[Metric]:
        breakers = GaugeMetricFamily(
            "llmrouter_breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
            labels=["model", "provider", "deployment"],
        )
        enabled = GaugeMetricFamily(
            "llmrouter_model_enabled", "1 when the model may be routed to", labels=["model"]
        )
        # One breaker per deployment (README, "Deployments"), each its own series ("" for a
        # model's one implicit deployment).
        for entry in self._registry.deployments():
            breakers.add_metric(
                [entry.name, entry.provider.name, entry.deployment],
                _BREAKER_VALUES[entry.breaker.state],
            )
        for entry in self._registry.entries():
            enabled.add_metric([entry.name], 1 if entry.enabled else 0)
        yield breakers
        yield enabled
        # Counters are named without their "_total": the family adds it to the sample (a gauge
        # retyped as a counter kept the suffix in its name, and the exposition said
        # "# TYPE ..._total_total counter" over samples of another name).
        skipped = CounterMetricFamily(
            "llmrouter_stream_chunks_skipped",
            "Unreadable stream chunks skipped mid-answer (the stream went on), by provider",
            labels=["provider"],
        )
        providers = {e.provider.name: e.provider for e in self._registry.deployments()}
        for name, provider in providers.items():
            skipped.add_metric([name], provider.skipped_chunks)
        yield skipped
        unknown = CounterMetricFamily(
            "llmrouter_unknown_stop_reasons",
            "Answers that stopped for a reason the adapter does not know (finished as stop)",
            labels=["provider"],
        )
        for name, provider in providers.items():
            unknown.add_metric([name], provider.unknown_stop_reasons)
        yield unknown
        yield from _pools(providers)
        yield GaugeMetricFamily(
            "llmrouter_outbox_depth",
            "Usage records waiting for the metrics service",
            value=self._outbox.depth,
        )
        stats = self._outbox.stats
        for name, value, doc in (
            ("llmrouter_outbox_dropped", stats.dropped, "Usage records dropped at the bound"),
            ("llmrouter_outbox_shipped", stats.shipped, "Usage records acknowledged"),
            (
                "llmrouter_outbox_rejected",
                stats.rejected,
                "Usage records set aside as invalid",
            ),
            (
                "llmrouter_outbox_dead_letters",
                stats.dead_letters,
                "Usage events that could not be made records, kept in the outbox's dead letters",
            ),
            (
                "llmrouter_outbox_commits",
                stats.commits,
                "Transactions that wrote usage records to the outbox file (group commits)",
            ),
            (
                "llmrouter_outbox_not_durable",
                stats.not_durable,
                "Answers sent before their usage records were in the outbox file",
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)


def _pools(providers: dict[str, Provider]) -> Iterable[Metric]:
    """Each provider's connection pool: its limit, the requests waiting for a connection and
    how long the requests that had to wait waited."""
    limit = GaugeMetricFamily(
        "llmrouter_upstream_connections_max",
        "Connections a provider's pool may hold (max_connections; 0 = no limit)",
        labels=["provider"],
    )
    waiting = GaugeMetricFamily(
        "llmrouter_upstream_connections_waiting",
        "Requests waiting for a connection to the provider: all max_connections are in use",
        labels=["provider"],
    )
    waited = HistogramMetricFamily(
        "llmrouter_upstream_connection_wait_seconds",
        "How long requests that found all of a provider's connections in use waited for one",
        labels=["provider"],
    )
    for name, provider in providers.items():
        pool = provider.pool
        if pool is None:
            continue
        limit.add_metric([name], pool.limit)
        waiting.add_metric([name], pool.waiting)
        waited.add_metric([name], pool.cumulative(), pool.wait_seconds)
    yield limit
    yield waiting
    yield waited


class RouterMetrics:
    """Counters and histograms fed from usage events, in a registry of their own."""

    def __init__(self, registry: Registry, outbox: UsageOutbox) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Attempts, latency, time to first token, tokens and cost: updated for every attempt.
        self.attempts = AttemptMetrics(_LATENCY_BUCKETS)
        self.registry.register(self.attempts)
        self.fallbacks = Counter(
            "llmrouter_fallbacks",
            "Attempts on another model than the request's previous attempt, by its failure",
            ["reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "llmrouter_retries",
            "Attempts on the same model as the request's previous attempt, by its failure",
            ["reason"],
            registry=self.registry,
        )
        # Named without "_total" (prometheus_client adds it): llmrouter_cache_lookups_total.
        self.cache_lookups = Counter(
            "llmrouter_cache_lookups",
            "Requests through the response cache by result: hit, miss, error (the store did "
            "not answer: served as a miss), bypass (not looked up)",
            ["result"],
            registry=self.registry,
        )
        for result in LOOKUP_RESULTS:  # every result from the start, at 0
            self.cache_lookups.labels(result)
        self.registry.register(_Live(registry, outbox))

    def cache_lookup(self, result: str) -> None:
        """Count one request through the response cache (one of ``LOOKUP_RESULTS``)."""
        self.cache_lookups.labels(result).inc()

    def observe(self, event: UsageEvent) -> None:
        """Account one finished attempt (called on the request path: cheap, no I/O). A
        response-cache hit made no upstream attempt and is not given here: it is counted by
        ``llmrouter_cache_lookups_total`` only."""
        self.attempts.observe(
            event.model,
            event.provider,
            event.status,
            event.duration_s,
            event.ttft_s,
            event.prompt_tokens,
            event.completion_tokens,
            event.cost_usd,
            event.deployment,
        )
        # Like the ledger's fallback flag: a retry of the same model is not a fallback, and a
        # request's first attempt is neither.
        if event.fallback:
            self.fallbacks.labels(event.fallback_reason).inc()
        elif event.attempt > 1:
            self.retries.labels(event.fallback_reason).inc()

    def sink(self, submit: Callable[[UsageEvent], None] | None) -> Callable[[UsageEvent], None]:
        """A usage sink that feeds these metrics, then ``submit`` (when usage is recorded)."""
        if submit is None:
            return self.observe

        def record(event: UsageEvent) -> None:
            self.observe(event)
            submit(event)

        return record
