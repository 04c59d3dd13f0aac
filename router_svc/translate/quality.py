"""Quality protobufs: QueryQuality's answer to score sums, the estimates to
ListQualityEstimates, a prediction to a Route candidate's QualityPrediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmrouter.v1 import metrics_service_pb2, router_admin_service_pb2, router_service_pb2

from ..quality.estimates import QualityEstimate, QualityPrediction, ScoreSums

__all__ = ["estimates_to_pb", "prediction_to_pb", "sums_reader"]


def sums_reader(stub: Any, timeout_s: float = 10.0) -> Any:
    """A :data:`router_svc.quality.ReadSums` over ``stub`` (a MetricsServiceStub)."""

    async def read() -> Mapping[tuple[str, str], ScoreSums]:
        response = await stub.QueryQuality(
            metrics_service_pb2.QueryQualityRequest(), timeout=timeout_s
        )
        return sums_of(response)

    return read


def sums_of(response: metrics_service_pb2.QueryQualityResponse) -> dict[tuple[str, str], ScoreSums]:
    """The per model x category sums of a QueryQuality answer (its rows are per source kind)."""
    parts: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
    for row in response.stats:
        kind = "judge" if row.source_kind == "judge" else "user"
        counted = parts.setdefault((row.model, row.category), {})
        count, total = counted.get(kind, (0, 0.0))
        counted[kind] = (count + int(row.count), total + float(row.score_sum))
    return {
        key: ScoreSums(
            user_count=kinds.get("user", (0, 0.0))[0],
            user_sum=kinds.get("user", (0, 0.0))[1],
            judge_count=kinds.get("judge", (0, 0.0))[0],
            judge_sum=kinds.get("judge", (0, 0.0))[1],
        )
        for key, kinds in parts.items()
    }


def estimates_to_pb(
    estimates: Sequence[QualityEstimate], min_samples: int
) -> router_admin_service_pb2.ListQualityEstimatesResponse:
    """The ListQualityEstimates answer."""
    return router_admin_service_pb2.ListQualityEstimatesResponse(
        estimates=[
            router_admin_service_pb2.QualityEstimate(
                model=e.model,
                category=e.category,
                prior=e.prior,
                prior_weight=e.prior_weight,
                samples=e.samples,
                observed_mean=e.observed_mean,
                estimate=e.estimate,
                lower=e.lower,
                upper=e.upper,
                in_use=e.in_use,
                user_samples=e.user_samples,
                judge_samples=e.judge_samples,
            )
            for e in estimates
        ],
        min_samples=min_samples,
    )


def prediction_to_pb(prediction: QualityPrediction) -> router_service_pb2.QualityPrediction:
    """A candidate's QualityPrediction."""
    return router_service_pb2.QualityPrediction(
        quality=prediction.quality,
        source=prediction.source,
        samples=prediction.samples,
        lower=prediction.lower,
        upper=prediction.upper,
        mean_similarity=prediction.mean_similarity,
    )
