"""Protobuf messages of the feedback RPCs (RecordFeedback, ListFeedback, QueryQuality) to plain
values and back; a bad field raises :class:`InvalidFeedback` or :class:`InvalidFeedbackQuery`
naming it.

With the servicer, the only feedback module that touches ``*_pb2`` types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from google.protobuf import timestamp_pb2

from llmrouter.request_ids import FEEDBACK_SOURCE_PATTERN, REQUEST_ID_MAX_CHARS, REQUEST_ID_PATTERN
from llmrouter.v1 import metrics_service_pb2 as pb
from metrics_svc.errors import InvalidFeedback, InvalidFeedbackQuery
from metrics_svc.feedback import (
    JUDGE_PREFIX,
    FeedbackCaller,
    FeedbackInput,
    QualityStats,
    StoredFeedback,
)
from metrics_svc.records import FeedbackScale

__all__ = [
    "DEFAULT_SOURCE",
    "LIST_DEFAULT_PAGE_SIZE",
    "LIST_MAX_PAGE_SIZE",
    "MAX_COMMENT_CHARS",
    "MAX_LABEL_CHARS",
    "SOURCE_PATTERN",
    "feedback_input",
    "feedback_to_pb",
    "list_feedback_query",
    "list_feedback_response",
    "normalised_score",
    "quality_response",
    "quality_start",
]

#: The source of a score that names none.
DEFAULT_SOURCE: Final = "user"
#: What a source looks like: "user", "judge:gpt-4o", a caller's own tag.
SOURCE_PATTERN: Final = FEEDBACK_SOURCE_PATTERN
MAX_LABEL_CHARS: Final = 64
MAX_COMMENT_CHARS: Final = 2000
#: ListFeedback's page size when the request sets none, and the most it returns.
LIST_DEFAULT_PAGE_SIZE: Final = 500
LIST_MAX_PAGE_SIZE: Final = 5000

_SCALES = {
    pb.FEEDBACK_SCALE_THUMBS: FeedbackScale.THUMBS,
    pb.FEEDBACK_SCALE_STARS: FeedbackScale.STARS,
    pb.FEEDBACK_SCALE_FRACTION: FeedbackScale.FRACTION,
}
_SCALE_PB = {scale: value for value, scale in _SCALES.items()}
# Control characters have no place in a one-line label.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The range of a google.protobuf.Timestamp.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799


def normalised_score(scale: FeedbackScale, raw: float) -> float | None:
    """``raw`` on ``scale`` as a score in [0, 1]; None when out of the scale's range (thumbs:
    0 or 1; stars: a whole number from 1 to 5; fraction: 0 to 1)."""
    if not math.isfinite(raw):
        return None
    if scale is FeedbackScale.THUMBS:
        return raw if raw in (0.0, 1.0) else None
    if scale is FeedbackScale.STARS:
        return (raw - 1) / 4 if raw.is_integer() and 1 <= raw <= 5 else None
    return raw if 0 <= raw <= 1 else None


def feedback_input(request: pb.RecordFeedbackRequest) -> tuple[FeedbackInput, FeedbackCaller]:
    """The score to store and whose requests the caller may score.

    ``raw_score`` on ``scale`` defines the score; ``score`` may be left 0 or must equal it
    (for the fraction scale either one may be given). The source defaults to "user"; a
    "judge:" prefix in any case is stored in lower case and must be followed by the model.
    """
    given = request.feedback
    if not given.request_id:
        raise InvalidFeedback("feedback.request_id", "must not be empty")
    if not REQUEST_ID_PATTERN.fullmatch(given.request_id):
        raise InvalidFeedback(
            "feedback.request_id",
            f"must be 1 to {REQUEST_ID_MAX_CHARS} characters of A-Z, a-z, 0-9, '.', '_', ':' "
            "and '-' (the response's x-request-id)",
        )
    source = given.source or DEFAULT_SOURCE
    if not SOURCE_PATTERN.fullmatch(source):
        raise InvalidFeedback(
            "feedback.source", "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
        )
    if source[: len(JUDGE_PREFIX)].lower() == JUDGE_PREFIX:
        # A judge's source in any case is a judge's: stored with the prefix in lower case.
        if len(source) == len(JUDGE_PREFIX):
            raise InvalidFeedback(
                "feedback.source", f"must name the judge: '{JUDGE_PREFIX}<model>'"
            )
        source = JUDGE_PREFIX + source[len(JUDGE_PREFIX) :]
    scale = _SCALES.get(given.scale)
    if scale is None:
        raise InvalidFeedback("feedback.scale", "must be THUMBS, STARS or FRACTION")
    raw = given.raw_score
    if scale is FeedbackScale.FRACTION and raw == 0 and given.score != 0:
        raw = given.score
    score = normalised_score(scale, raw)
    if score is None:
        ranges = {
            FeedbackScale.THUMBS: "0 (down) or 1 (up)",
            FeedbackScale.STARS: "a whole number from 1 to 5",
            FeedbackScale.FRACTION: "a number from 0 to 1",
        }
        raise InvalidFeedback(
            "feedback.raw_score", f"must be {ranges[scale]} on the {scale.value} scale, got {raw}"
        )
    if given.score != 0 and abs(given.score - score) > 1e-9:
        raise InvalidFeedback(
            "feedback.score",
            f"must be 0 (unset) or {score}, the raw_score {raw} on the {scale.value} scale",
        )
    if len(given.label) > MAX_LABEL_CHARS or _CONTROL.search(given.label):
        raise InvalidFeedback(
            "feedback.label", f"must be at most {MAX_LABEL_CHARS} characters, no control characters"
        )
    if len(given.comment) > MAX_COMMENT_CHARS:
        raise InvalidFeedback("feedback.comment", f"must be at most {MAX_COMMENT_CHARS} characters")
    value = FeedbackInput(
        request_id=given.request_id,
        source=source,
        score=score,
        scale=scale,
        raw_score=raw,
        label=given.label,
        comment=given.comment,
    )
    return value, FeedbackCaller(request.caller_api_key_id, request.caller_team_id)


def feedback_to_pb(stored: StoredFeedback) -> pb.Feedback:
    """A ``Feedback`` message of ``stored``."""
    message = pb.Feedback(
        request_id=stored.request_id,
        source=stored.source,
        score=stored.score,
        scale=_SCALE_PB[stored.scale],
        raw_score=stored.raw_score,
        label=stored.label,
        comment=stored.comment,
        model=stored.model,
        category=stored.category,
        api_key_id=stored.api_key_id,
        team_id=stored.team_id,
        deployment=stored.deployment,
        sequence=stored.sequence,
    )
    message.time.FromDatetime(stored.time)
    return message


def list_feedback_query(request: pb.ListFeedbackRequest) -> tuple[int, int]:
    """``(after_sequence, page_size)``; a page size above the maximum is taken as it
    (AIP-158)."""
    if request.after_sequence < 0:
        raise InvalidFeedbackQuery("after_sequence", "must be >= 0")
    if request.page_size < 0:
        raise InvalidFeedbackQuery("page_size", "must be >= 0")
    size = min(request.page_size or LIST_DEFAULT_PAGE_SIZE, LIST_MAX_PAGE_SIZE)
    return request.after_sequence, size


def list_feedback_response(after: int, stored: Sequence[StoredFeedback]) -> pb.ListFeedbackResponse:
    """The page, with the cursor of the next one."""
    return pb.ListFeedbackResponse(
        feedback=[feedback_to_pb(s) for s in stored],
        last_sequence=stored[-1].sequence if stored else after,
    )


def quality_start(request: pb.QueryQualityRequest) -> datetime | None:
    """The window's start, None for all time."""
    if not request.HasField("start_time"):
        return None
    stamp = request.start_time
    if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < 1_000_000_000):
        raise InvalidFeedbackQuery("start_time", "is out of range")
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def quality_response(stats: Sequence[QualityStats]) -> pb.QueryQualityResponse:
    """A ``QueryQualityResponse`` of ``stats``."""
    response = pb.QueryQualityResponse()
    for s in stats:
        message = response.stats.add(
            model=s.model,
            category=s.category,
            source_kind=s.source_kind,
            count=s.count,
            score_sum=s.score_sum,
            score_sum_squares=s.score_sum_squares,
        )
        if s.last_time is not None:
            message.last_time.CopyFrom(_timestamp(s.last_time))
    return response


def _timestamp(time: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time)
    return stamp
