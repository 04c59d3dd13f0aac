"""RouterAdminService.ListQualityEstimates as the JSON of ``GET /v1/admin/quality`` (and the
dashboard's Quality view)."""

from __future__ import annotations

from typing import Any

from gateway.translate._values import number
from llmrouter.v1 import router_admin_service_pb2 as pb

__all__ = ["estimates_json", "list_request"]


def list_request() -> pb.ListQualityEstimatesRequest:
    """The ListQualityEstimates call (it takes nothing)."""
    return pb.ListQualityEstimatesRequest()


def estimates_json(response: pb.ListQualityEstimatesResponse) -> dict[str, Any]:
    """``{"min_samples": n, "estimates": [...]}``, one entry per model x category with scores."""
    return {
        "min_samples": response.min_samples,
        "estimates": [
            {
                "model": e.model,
                "category": e.category,
                "prior": number(e.prior),
                "prior_weight": number(e.prior_weight),
                "samples": e.samples,
                "user_samples": e.user_samples,
                "judge_samples": e.judge_samples,
                "observed_mean": number(e.observed_mean),
                "estimate": number(e.estimate),
                "lower": number(e.lower),
                "upper": number(e.upper),
                "in_use": e.in_use,
            }
            for e in response.estimates
        ],
    }
