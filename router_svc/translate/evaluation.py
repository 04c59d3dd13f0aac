"""Evaluation on the wire: the judge's grades as ``RecordFeedback`` calls to the metrics
service, and the ``RunEvaluation`` answer."""

from __future__ import annotations

from typing import Any

import grpc

from llmrouter.v1 import metrics_service_pb2, router_admin_service_pb2

from ..evaluation.job import FeedbackNotStored, RunResult, SendFeedback

__all__ = ["feedback_request", "feedback_sender", "run_response"]


def feedback_request(
    request_id: str, source: str, score: float, raw_score: float, label: str
) -> metrics_service_pb2.RecordFeedbackRequest:
    """RecordFeedback of one grade: a fraction (``score`` in [0, 1]), the judge's own figure
    as ``raw_score``, the mode as ``label``; no comment (the judge's reason may quote the
    conversation)."""
    return metrics_service_pb2.RecordFeedbackRequest(
        feedback=metrics_service_pb2.Feedback(
            request_id=request_id,
            source=source,
            score=score,
            scale=metrics_service_pb2.FEEDBACK_SCALE_FRACTION,
            raw_score=raw_score,
            label=label,
        )
    )


def feedback_sender(stub: Any, timeout_s: float = 10.0) -> SendFeedback:
    """A :data:`router_svc.evaluation.SendFeedback` over ``stub`` (a MetricsServiceStub):
    a failed call raises FeedbackNotStored with its status code's name."""

    async def send(
        request_id: str, source: str, score: float, raw_score: float, label: str
    ) -> None:
        try:
            await stub.RecordFeedback(
                feedback_request(request_id, source, score, raw_score, label), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise FeedbackNotStored(exc.code().name, exc.details() or "") from None

    return send


def run_response(result: RunResult) -> router_admin_service_pb2.RunEvaluationResponse:
    """The ``RunEvaluation`` answer for ``result``."""
    return router_admin_service_pb2.RunEvaluationResponse(
        graded_count=result.graded,
        failed_count=result.failed,
        pending_count=result.pending,
        judge_cost_usd=result.judge_cost_usd,
    )
