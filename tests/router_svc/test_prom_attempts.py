"""The per-attempt series a Prometheus scrape of the router sees: the same families, series,
labels and values prometheus_client's own Counter and Histogram export for the same attempts
(the router keeps them as plain numbers, router_svc.prom_attempts)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from router_svc.prom_attempts import AttemptMetrics

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# (model, provider, status, duration_s, ttft_s, prompt_tokens, completion_tokens, cost_usd,
# deployment): bucket bounds hit exactly, beyond the last bound, zero, a stream's time to first
# token, failures without usage, a second provider, and model "c"'s two deployments on one
# provider (each its own series) beside models without deployments ("").
ATTEMPTS = [
    ("a", "oai", "failed", 0.003, None, 0, 0, 0.0, ""),
    ("b", "anth", "succeeded", 0.2, 0.05, 10, 4, 0.001, ""),
    ("a", "oai", "succeeded", 200.0, None, 5, 5, 0.0, ""),
    ("c", "oai", "succeeded", 0.3, None, 7, 2, 0.25, "east"),
    ("a", "oai", "succeeded", 1.0, 1.0, 5, 5, 0.5, ""),
    ("c", "oai", "failed", 0.02, None, 0, 0, 0.0, "west"),
    ("b", "anth", "cancelled", 0.0, None, 3, 0, 0.0, ""),
    ("c", "oai", "succeeded", 0.4, 0.1, 1, 1, 0.75, "west"),
    ("a", "oai", "failed", 0.005, 0.005, 0, 0, 0.0, ""),
]


def reference(registry: CollectorRegistry) -> None:
    """The same attempts through prometheus_client's labelled children."""
    attempts = Counter(
        "llmrouter_attempts",
        "Upstream attempts by outcome",
        ["model", "provider", "deployment", "status"],
        registry=registry,
    )
    duration = Histogram(
        "llmrouter_attempt_duration_seconds",
        "Attempt latency",
        ["model", "provider", "deployment"],
        buckets=BUCKETS,
        registry=registry,
    )
    ttft = Histogram(
        "llmrouter_time_to_first_token_seconds",
        "Streams: time to first token",
        ["model", "provider", "deployment"],
        buckets=BUCKETS,
        registry=registry,
    )
    tokens = Counter(
        "llmrouter_tokens",
        "Tokens by model and kind",
        ["model", "provider", "deployment", "kind"],
        registry=registry,
    )
    cost = Counter(
        "llmrouter_cost_usd",
        "Cost in USD",
        ["model", "provider", "deployment"],
        registry=registry,
    )
    for model, provider, status, took, first, prompt, completion, usd, where in ATTEMPTS:
        attempts.labels(model, provider, where, status).inc()
        duration.labels(model, provider, where).observe(took)
        ttft_child = ttft.labels(model, provider, where)
        if first is not None:
            ttft_child.observe(first)
        tokens.labels(model, provider, where, "prompt").inc(prompt)
        tokens.labels(model, provider, where, "completion").inc(completion)
        cost.labels(model, provider, where).inc(usd)


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


def test_two_deployments_on_one_provider_are_two_series() -> None:
    registry = CollectorRegistry()
    collector = AttemptMetrics(BUCKETS)
    registry.register(collector)
    for attempt in ATTEMPTS:
        collector.observe(*attempt)
    text = generate_latest(registry).decode()
    attempts = 'llmrouter_attempts_total{{deployment="{}",model="c",provider="oai",status="{}"}}'
    for line in (
        attempts.format("east", "succeeded") + " 1.0",
        attempts.format("west", "succeeded") + " 1.0",
        attempts.format("west", "failed") + " 1.0",
        'llmrouter_cost_usd_total{deployment="east",model="c",provider="oai"} 0.25',
        'llmrouter_cost_usd_total{deployment="west",model="c",provider="oai"} 0.75',
        'llmrouter_cost_usd_total{deployment="",model="a",provider="oai"} 0.5',
    ):
        assert line in text
