"""Evaluation on the wire: the judge's grades as ``RecordFeedback`` calls to the metrics
service, and the ``RunEvaluation`` answer."""

from __future__ import annotations

from typing import Any

import grpc

from llmrouter.v1 import metrics_service_pb2, router_admin_service_pb2

from ..evaluation.job import FeedbackNotStored, RunResult, SendFeedback

__all__ = ["feedback_request", "feedback_sender", "run_response"]


def feedback_request(
    request_id: str, source: str, score: float, label: str
) -> metrics_service_pb2.RecordFeedbackRequest:
    """RecordFeedback of one grade: ``score`` in [0, 1] on the fraction scale (as its raw
    score too: the fraction scale takes nothing else), the mode as ``label``, no comment (the
    judge's reason may quote the conversation) and no caller key (a judge may score any
    request)."""
    return metrics_service_pb2.RecordFeedbackRequest(
        feedback=metrics_service_pb2.Feedback(
            request_id=request_id,
            source=source,
            score=score,
            scale=metrics_service_pb2.FEEDBACK_SCALE_FRACTION,
            raw_score=score,
            label=label,
        )
    )


def feedback_sender(stub: Any, timeout_s: float = 10.0) -> SendFeedback:
    """A :data:`router_svc.evaluation.SendFeedback` over ``stub`` (a MetricsServiceStub):
    a failed call raises FeedbackNotStored with its status code's name."""

    async def send(request_id: str, source: str, score: float, label: str) -> None:
        try:
            # Waits (within the timeout) for a metrics service restarting or a channel in
            # reconnect backoff, rather than failing the grade at once.
            await stub.RecordFeedback(
                feedback_request(request_id, source, score, label),
                timeout=timeout_s,
                wait_for_ready=True,
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
