"""The per-attempt Prometheus series (attempts, latency, time to first token, tokens, cost) as
plain numbers, exported by a collector of their own.

Every attempt updates five of these series on the event loop. prometheus_client's labelled
children take a lock and check themselves on every update, and a histogram walks its buckets
one by one: ~28 kIr per attempt; here ~5. A scrape (in the exposition server's thread) reads
the numbers one at a time, as prometheus_client's own children do: it may see an attempt in one
series and not yet in the next. The families, series, label sets and samples are those
prometheus_client's ``Counter`` and ``Histogram`` export (``_total``, ``_bucket``/``_count``/
``_sum``, and ``_created`` unless ``disable_created_metrics()`` turned it off); a model's
latency, time-to-first-token, token and cost series appear with its first attempt, whatever
its outcome, as the children did. Every series is labelled by model, provider and deployment
("" for a model's one implicit deployment; README, "Deployments"), so two deployments of a model
on one provider stay apart.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import metrics as _client_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# How prometheus_client writes a bucket's bound in ``le`` (untyped there).
_le: Callable[[float], str] = floatToGoString

__all__ = ["AttemptMetrics"]

_INF = float("inf")


class _Histogram:
    """Observations per bucket (not cumulative) and their sum."""

    __slots__ = ("counts", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.sum = 0.0


class _Series:
    """One (model, provider, deployment): its latency, time to first token, tokens and cost,
    and when they were created (epoch seconds)."""

    __slots__ = ("completion", "cost", "created", "duration", "prompt", "ttft")

    def __init__(self, buckets: int, created: float) -> None:
        self.created = created
        self.duration = _Histogram(buckets)
        self.ttft = _Histogram(buckets)
        self.prompt = 0.0
        self.completion = 0.0
        self.cost = 0.0


class AttemptMetrics(Collector):
    """``llmrouter_attempts``, ``llmrouter_attempt_duration_seconds``,
    ``llmrouter_time_to_first_token_seconds``, ``llmrouter_tokens`` and ``llmrouter_cost_usd``,
    updated by :meth:`observe` (the event loop only) and read by a registry's scrape."""

    def __init__(self, buckets: Sequence[float]) -> None:
        # Upper bounds, ascending, +Inf last (as prometheus_client's Histogram adds it).
        self._bounds = (*buckets, _INF) if buckets[-1] != _INF else tuple(buckets)
        self._le = [_le(bound) for bound in self._bounds]
        # (model, provider, deployment) -> its series, in the order of their first attempt.
        self._series: dict[tuple[str, str, str], _Series] = {}
        # (model, provider, deployment, status) -> [attempts, created], in the order of their
        # first one.
        self._attempts: dict[tuple[str, str, str, str], list[float]] = {}

    def observe(
        self,
        model: str,
        provider: str,
        status: str,
        duration_s: float,
        ttft_s: float | None,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        deployment: str = "",
    ) -> None:
        """One finished attempt on ``deployment`` of ``model`` ("" for its implicit one)."""
        key = (model, provider, deployment)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(len(self._bounds), time.time())
        counted = self._attempts.get((model, provider, deployment, status))
        if counted is None:
            self._attempts[(model, provider, deployment, status)] = [1.0, time.time()]
        else:
            counted[0] += 1
        self._add(series.duration, duration_s)
        if ttft_s is not None:
            self._add(series.ttft, ttft_s)
        series.prompt += prompt_tokens
        series.completion += completion_tokens
        series.cost += cost_usd

    def _add(self, histogram: _Histogram, value: float) -> None:
        histogram.sum += value
        if value <= _INF:  # NaN is in no bucket (prometheus_client: no bound is >= it)
            histogram.counts[bisect_left(self._bounds, value)] += 1

    def collect(self) -> Iterable[Metric]:
        """The five families, each series in the order of its model's first attempt."""
        created = _client_metrics._use_created  # disable_created_metrics() sets it
        all_series = tuple(self._series.items())  # one C call: safe beside the loop's inserts
        attempts = CounterMetricFamily(
            "llmrouter_attempts",
            "Upstream attempts by outcome",
            labels=["model", "provider", "deployment", "status"],
        )
        duration = self._family(
            "llmrouter_attempt_duration_seconds",
            "Attempt latency",
            [(key, series.created, series.duration) for key, series in all_series],
        )
        ttft = self._family(
            "llmrouter_time_to_first_token_seconds",
            "Streams: time to first token",
            [(key, series.created, series.ttft) for key, series in all_series],
        )
        tokens = CounterMetricFamily(
            "llmrouter_tokens",
            "Tokens by model and kind",
            labels=["model", "provider", "deployment", "kind"],
        )
        cost = CounterMetricFamily(
            "llmrouter_cost_usd", "Cost in USD", labels=["model", "provider", "deployment"]
        )
        for (model, provider, deployment, status), (count, since) in tuple(self._attempts.items()):
            attempts.add_metric(
                [model, provider, deployment, status], count, created=since if created else None
            )
        for (model, provider, deployment), series in all_series:
            at = series.created if created else None
            tokens.add_metric([model, provider, deployment, "prompt"], series.prompt, created=at)
            tokens.add_metric(
                [model, provider, deployment, "completion"], series.completion, created=at
            )
            cost.add_metric([model, provider, deployment], series.cost, created=at)
        yield attempts
        yield duration
        yield ttft
        yield tokens
        yield cost

    def _family(
        self,
        name: str,
        documentation: str,
        histograms: list[tuple[tuple[str, str, str], float, _Histogram]],
    ) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            name, documentation, labels=["model", "provider", "deployment"]
        )
        for (model, provider, deployment), created, histogram in histograms:
            total, buckets = 0, []
            for le, count in zip(self._le, tuple(histogram.counts), strict=True):
                total += count
                buckets.append((le, float(total)))
            family.add_metric([model, provider, deployment], buckets, histogram.sum)
            if _client_metrics._use_created:
                labels = {"model": model, "provider": provider, "deployment": deployment}
                family.samples.append(Sample(f"{name}_created", labels, created))
        return family
