"""RouterService.Route's decision as the JSON of ``POST /v1/route``."""

from __future__ import annotations

from typing import Any

from llmrouter.v1 import router_service_pb2

__all__ = ["route_json"]

_SKIP_PREFIX = "SKIP_REASON_"


def route_json(response: router_service_pb2.RouteResponse) -> dict[str, Any]:
    """Category, the ordered candidates, and the skipped models with lower-case reasons;
    the quality bound and each candidate's estimate when one applied (else null)."""
    return {
        "category": response.category,
        "category_source": response.category_source,
        "estimated_prompt_tokens": response.estimated_prompt_tokens,
        "min_quality": response.min_quality if response.HasField("min_quality") else None,
        "predictor_embedding_model": response.predictor_embedding_model,
        "candidates": [
            {
                "model": c.model,
                "provider": c.provider,
                "position": c.position,
                "score": c.score,
                "reason": c.reason,
                "quality": _quality(c.quality) if c.HasField("quality") else None,
            }
            for c in response.candidates
        ],
        "skipped": [
            {"model": s.model, "reason": _skip_reason(s.reason), "detail": s.detail}
            for s in response.skipped_models
        ],
    }


def _quality(quality: router_service_pb2.QualityPrediction) -> dict[str, Any]:
    """A candidate's quality estimate; the interval only where it is known."""
    known = quality.lower or quality.upper
    return {
        "quality": quality.quality,
        "source": quality.source,
        "samples": quality.samples,
        "mean_similarity": quality.mean_similarity,
        "lower": quality.lower if known else None,
        "upper": quality.upper if known else None,
    }


def _skip_reason(value: int) -> str:
    """``SKIP_REASON_CONTEXT_WINDOW`` -> ``context_window``; unknown numbers -> ``unspecified``."""
    try:
        name = router_service_pb2.SkipReason.Name(value)
    except ValueError:
        return "unspecified"
    return name.removeprefix(_SKIP_PREFIX).lower()
