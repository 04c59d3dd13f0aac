"""RouterService.Route's decision as the JSON of ``POST /v1/route``."""

from __future__ import annotations

from typing import Any

from llmrouter.v1 import router_service_pb2

__all__ = ["route_json"]

_SKIP_PREFIX = "SKIP_REASON_"


def route_json(response: router_service_pb2.RouteResponse) -> dict[str, Any]:
    """Category, the ordered candidates, and the skipped models with lower-case reasons."""
    return {
        "category": response.category,
        "category_source": response.category_source,
        "estimated_prompt_tokens": response.estimated_prompt_tokens,
        "candidates": [_candidate(c) for c in response.candidates],
        "skipped": [
            {"model": s.model, "reason": _skip_reason(s.reason), "detail": s.detail}
            for s in response.skipped_models
        ],
    }


def _candidate(c: router_service_pb2.Candidate) -> dict[str, Any]:
    """One candidate; ``quality`` when its score used a quality estimate."""
    item: dict[str, Any] = {
        "model": c.model,
        "provider": c.provider,
        "position": c.position,
        "score": c.score,
        "reason": c.reason,
    }
    if c.HasField("quality"):
        q = c.quality
        item["quality"] = {
            "quality": q.quality,
            "source": q.source,
            "samples": q.samples,
            "lower": q.lower,
            "upper": q.upper,
        }
    return item


def _skip_reason(value: int) -> str:
    """``SKIP_REASON_CONTEXT_WINDOW`` -> ``context_window``; unknown numbers -> ``unspecified``."""
    try:
        name = router_service_pb2.SkipReason.Name(value)
    except ValueError:
        return "unspecified"
    return name.removeprefix(_SKIP_PREFIX).lower()
