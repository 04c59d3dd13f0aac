"""Prometheus counters of evaluation, read from the sampler and the job at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .job import Evaluator
from .sampler import Sampler

__all__ = ["EvaluationCollector"]


class EvaluationCollector(Collector):
    """``llmrouter_evaluation_samples_total{result}`` (stored, dropped),
    ``llmrouter_evaluation_grades_total{result}`` (graded, failed) and
    ``llmrouter_evaluation_judge_cost_usd_total`` of this replica."""

    def __init__(self, evaluator: Evaluator, sampler: Sampler | None) -> None:
        self._evaluator = evaluator
        self._sampler = sampler

    def collect(self) -> Iterable[Metric]:
        samples = CounterMetricFamily(
            "llmrouter_evaluation_samples",
            "Answers sampled for evaluation: stored in the admin store, or dropped (the queue "
            "or max_pending full, or the store failing)",
            labels=["result"],
        )
        sampler = self._sampler
        samples.add_metric(["stored"], sampler.stored if sampler else 0)
        samples.add_metric(["dropped"], sampler.dropped if sampler else 0)
        yield samples
        grades = CounterMetricFamily(
            "llmrouter_evaluation_grades",
            "Samples graded and delivered as feedback, or failed (kept for a later run)",
            labels=["result"],
        )
        grades.add_metric(["graded"], self._evaluator.graded_total)
        grades.add_metric(["failed"], self._evaluator.failed_total)
        yield grades
        yield CounterMetricFamily(
            "llmrouter_evaluation_judge_cost_usd",
            "USD spent on judge and reference calls (also in the ledger, source evaluation)",
            value=self._evaluator.judge_cost_total,
        )
