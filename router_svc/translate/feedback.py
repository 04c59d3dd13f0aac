"""Feedback on the wire: reading the metrics service's stored scores (ListFeedback) for the
learned predictor (:mod:`router_svc.learned.follower`)."""

from __future__ import annotations

from typing import Any

from llmrouter.v1 import metrics_service_pb2

from ..learned.follower import FeedbackPage, ReadFeedback, Scored

__all__ = ["feedback_reader"]


def feedback_reader(stub: Any, timeout_s: float = 10.0) -> ReadFeedback:
    """A :data:`~router_svc.learned.follower.ReadFeedback` over ``stub`` (a
    MetricsServiceStub): ListFeedback after a sequence, at most a page of scores. The
    feedback's label and comment are not read."""

    async def read(after_sequence: int, page_size: int) -> FeedbackPage:
        response = await stub.ListFeedback(
            metrics_service_pb2.ListFeedbackRequest(
                after_sequence=after_sequence, page_size=page_size
            ),
            timeout=timeout_s,
        )
        scores = [
            Scored(f.request_id, f.source, f.model, f.score, f.sequence) for f in response.feedback
        ]
        return FeedbackPage(scores, max(response.last_sequence, after_sequence))

    return read
