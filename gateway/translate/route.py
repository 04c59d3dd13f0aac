"""RouterService.Route's decision as the JSON of ``POST /v1/route``."""

from __future__ import annotations

from typing import Any

from llmrouter.v1 import router_service_pb2

__all__ = ["route_json"]

_SKIP_PREFIX = "SKIP_REASON_"


def route_json(response: router_service_pb2.RouteResponse) -> dict[str, Any]:
    """Category, the ordered candidates, and the skipped models with lower-case reasons;
    the quality bound (null when none applied) and the predictor's embedding model."""
    return {
        "category": response.category,
        "category_source": response.category_source,
        "estimated_prompt_tokens": response.estimated_prompt_tokens,
        "min_quality": response.min_quality if response.HasField("min_quality") else None,
        "predictor_embedding_model": response.predictor_embedding_model,
        "candidates": [_candidate(c) for c in response.candidates],
        "skipped": [
            {"model": s.model, "reason": _skip_reason(s.reason), "detail": s.detail}
            for s in response.skipped_models
        ],
    }


def _candidate(c: router_service_pb2.Candidate) -> dict[str, Any]:
    """One candidate with the deployment its first attempt will use ("" without deployments);
    ``quality`` when a quality estimate placed it (preferences weighing
    quality, or a quality bound), its interval null where unknown."""
    item: dict[str, Any] = {
        "model": c.model,
        "provider": c.provider,
        "deployment": c.deployment,
        "position": c.position,
        "score": c.score,
        "reason": c.reason,
    }
    if c.HasField("quality"):
        q = c.quality
        known = q.lower or q.upper
        item["quality"] = {
            "quality": q.quality,
            "source": q.source,
            "samples": q.samples,
            "lower": q.lower if known else None,
            "upper": q.upper if known else None,
            "mean_similarity": q.mean_similarity,
        }
    return item


def _skip_reason(value: int) -> str:
    """``SKIP_REASON_CONTEXT_WINDOW`` -> ``context_window``; unknown numbers -> ``unspecified``."""
    try:
        name = router_service_pb2.SkipReason.Name(value)
    except ValueError:
        return "unspecified"
    return name.removeprefix(_SKIP_PREFIX).lower()
