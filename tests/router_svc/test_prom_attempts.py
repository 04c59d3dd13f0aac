"""The per-attempt series a Prometheus scrape of the router sees: the same families, series,
labels and values prometheus_client's own Counter and Histogram export for the same attempts
(the router keeps them as plain numbers, router_svc.prom_attempts)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from router_svc.prom_attempts import AttemptMetrics

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# (model, provider, status, duration_s, ttft_s, prompt_tokens, completion_tokens, cost_usd):
# bucket bounds hit exactly, beyond the last bound, zero, a stream's time to first token,
# failures without usage, a second provider.
ATTEMPTS = [
    ("a", "oai", "failed", 0.003, None, 0, 0, 0.0),
    ("b", "anth", "succeeded", 0.2, 0.05, 10, 4, 0.001),
    ("a", "oai", "succeeded", 200.0, None, 5, 5, 0.0),
    ("a", "oai", "succeeded", 1.0, 1.0, 5, 5, 0.5),
    ("b", "anth", "cancelled", 0.0, None, 3, 0, 0.0),
    ("a", "oai", "failed", 0.005, 0.005, 0, 0, 0.0),
]


def reference(registry: CollectorRegistry) -> None:
    """The same attempts through prometheus_client's labelled children."""
    attempts = Counter(
        "llmrouter_attempts",
        "Upstream attempts by outcome",
        ["model", "provider", "status"],
        registry=registry,
    )
    duration = Histogram(
        "llmrouter_attempt_duration_seconds",
        "Attempt latency",
        ["model", "provider"],
        buckets=BUCKETS,
        registry=registry,
    )
    ttft = Histogram(
        "llmrouter_time_to_first_token_seconds",
        "Streams: time to first token",
        ["model", "provider"],
        buckets=BUCKETS,
        registry=registry,
    )
    tokens = Counter(
        "llmrouter_tokens",
        "Tokens by model and kind",
        ["model", "provider", "kind"],
        registry=registry,
    )
    cost = Counter("llmrouter_cost_usd", "Cost in USD", ["model", "provider"], registry=registry)
    for model, provider, status, took, first, prompt, completion, usd in ATTEMPTS:
        attempts.labels(model, provider, status).inc()
        duration.labels(model, provider).observe(took)
        ttft_child = ttft.labels(model, provider)
        if first is not None:
            ttft_child.observe(first)
        tokens.labels(model, provider, "prompt").inc(prompt)
        tokens.labels(model, provider, "completion").inc(completion)
        cost.labels(model, provider).inc(usd)


def scraped(registry: CollectorRegistry) -> list[str]:
    """The exposition's lines, creation times masked, families in name order."""
    text = re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", generate_latest(registry).decode())
    return sorted(text.split("# HELP"))


@pytest.mark.parametrize("created", [True, False])
def test_the_scrape_is_what_prometheus_client_exports(
    created: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import metrics

    monkeypatch.setattr(metrics, "_use_created", created)
    expected = CollectorRegistry()
    reference(expected)
    ours = CollectorRegistry()
    collector = AttemptMetrics(BUCKETS)
    ours.register(collector)
    for attempt in ATTEMPTS:
        collector.observe(*attempt)
    assert scraped(ours) == scraped(expected)
    assert ("_created" in generate_latest(ours).decode()) is created
