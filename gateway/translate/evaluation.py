"""``POST /v1/admin/evaluation``: RunEvaluation's request and its answer as JSON."""

from __future__ import annotations

from typing import Any

from llmrouter.v1 import router_admin_service_pb2 as pb

__all__ = ["evaluation_json", "run_evaluation_request"]


def run_evaluation_request(limit: int) -> pb.RunEvaluationRequest:
    """Grade at most ``limit`` pending samples (0: all)."""
    return pb.RunEvaluationRequest(limit=limit)


def evaluation_json(response: pb.RunEvaluationResponse) -> dict[str, Any]:
    """What the run did, as ``llmrouter eval run --json`` prints it."""
    return {
        "graded": response.graded_count,
        "failed": response.failed_count,
        "pending": response.pending_count,
        "judge_cost_usd": response.judge_cost_usd,
    }
