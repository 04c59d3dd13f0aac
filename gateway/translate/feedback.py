"""``POST /v1/feedback`` bodies to ``RecordFeedbackRequest``, and the stored score back to JSON.

The body (README "Feedback")::

    {"id": "chatcmpl-…" | "msg_…" | "resp_…" | "<x-request-id>",
     "score": true | false | <number>,
     "scale": "thumbs" | "stars" | "fraction",   # required with a number
     "label": "…", "comment": "…", "source": "user"}

A boolean is a thumbs up or down (``scale`` may be left out or be ``thumbs``). A number needs
its ``scale``: 0 and 1 mean different things on each (thumbs down, one star, nothing), so none
is guessed. Every bad field is a 400 naming it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

from gateway.errors import InvalidRequest
from gateway.translate._values import number, time_of
from llmrouter.request_ids import REQUEST_ID_PATTERN
from llmrouter.v1 import metrics_service_pb2 as pb

__all__ = [
    "DEFAULT_SOURCE",
    "ID_PREFIXES",
    "JUDGE_PREFIX",
    "RESERVED_SOURCES",
    "FeedbackBody",
    "feedback_json",
    "parse_feedback",
    "record_feedback_request",
    "reserved_source",
]

#: The source of feedback that names none.
DEFAULT_SOURCE: Final = "user"
#: Sources of evaluation judges ("judge:<model>", the prefix in any case, stored in lower
#: case): only admin keys may send them (users cannot pose as judges).
JUDGE_PREFIX: Final = "judge:"
#: The router's own sources (evaluation jobs, the response cache), in lower case: admin only too.
RESERVED_SOURCES: Final = frozenset({"evaluation", "cache"})
#: Prefixes of the response ids of each front door, before the router's request id.
ID_PREFIXES: Final = ("chatcmpl-", "msg_", "resp_")

_SCALES: Final = {
    "thumbs": pb.FEEDBACK_SCALE_THUMBS,
    "stars": pb.FEEDBACK_SCALE_STARS,
    "fraction": pb.FEEDBACK_SCALE_FRACTION,
}
_SCALE_NAMES: Final = {value: name for name, value in _SCALES.items()}
_SOURCE: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_FIELDS: Final = frozenset({"id", "score", "scale", "label", "comment", "source"})
_RANGES: Final = {
    "thumbs": "true/false, or 1 (up) or 0 (down)",
    "stars": "a whole number from 1 to 5",
    "fraction": "a number from 0 to 1",
}


@dataclass(frozen=True, slots=True)
class FeedbackBody:
    """A valid ``POST /v1/feedback`` body."""

    #: The router's request id (the given id without its front door's prefix).
    request_id: str
    scale: str
    raw_score: float
    label: str
    comment: str
    source: str


def parse_feedback(body: Any) -> FeedbackBody:
    """Validate a decoded body; 400 naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", None, code="invalid_type")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    request_id = _request_id(body.get("id"))
    scale, raw = _score(body.get("score"), body.get("scale"))
    label = _text(body, "label", 64)
    if _CONTROL.search(label):
        raise InvalidRequest("'label' must not hold control characters.", "label")
    comment = _text(body, "comment", 2000)
    source = DEFAULT_SOURCE if body.get("source") is None else _text(body, "source", 64)
    if not _SOURCE.fullmatch(source):
        raise InvalidRequest(
            "'source' must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.",
            "source",
        )
    if source[: len(JUDGE_PREFIX)].lower() == JUDGE_PREFIX:
        if len(source) == len(JUDGE_PREFIX):
            raise InvalidRequest(
                f"'source' {source!r} names no judge: use '{JUDGE_PREFIX}<model>'.", "source"
            )
        source = JUDGE_PREFIX + source[len(JUDGE_PREFIX) :]
    return FeedbackBody(request_id, scale, raw, label, comment, source)


def reserved_source(source: str) -> bool:
    """Whether only admin keys may send ``source``: a judge's ("judge:…") or the router's own
    ("evaluation", "cache"), compared without case."""
    lowered = source.lower()
    return lowered.startswith(JUDGE_PREFIX) or lowered in RESERVED_SOURCES


def record_feedback_request(
    body: FeedbackBody, *, api_key_id: str | None, team_id: str, admin: bool
) -> pb.RecordFeedbackRequest:
    """The RecordFeedback call: restricted to the caller's own (or team's) requests unless
    it is an admin key."""
    request = pb.RecordFeedbackRequest(
        feedback=pb.Feedback(
            request_id=body.request_id,
            source=body.source,
            scale=_SCALES[body.scale],
            raw_score=body.raw_score,
            label=body.label,
            comment=body.comment,
        )
    )
    if not admin:
        request.caller_api_key_id = api_key_id or ""
        request.caller_team_id = team_id
    return request


def feedback_json(response: pb.RecordFeedbackResponse) -> dict[str, Any]:
    """The stored score as ``POST /v1/feedback`` answers it."""
    stored = response.feedback
    return {
        "object": "feedback",
        "request_id": stored.request_id,
        "source": stored.source,
        "score": number(stored.score),
        "scale": _SCALE_NAMES.get(stored.scale, ""),
        "raw_score": number(stored.raw_score),
        "label": stored.label,
        "comment": stored.comment,
        "model": stored.model,
        "category": stored.category,
        "deployment": stored.deployment,
        "api_key_id": stored.api_key_id,
        "team_id": stored.team_id,
        "time": time_of(stored, "time"),
        "replaced": response.replaced,
    }


def _request_id(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(
            "'id' must be a string: the response's id (chatcmpl-…, msg_…, resp_…) or its "
            "x-request-id header.",
            "id",
        )
    if not value:
        raise InvalidRequest(
            "'id' is required: the response's id (chatcmpl-…, msg_…, resp_…) or its "
            "x-request-id header.",
            "id",
        )
    for prefix in ID_PREFIXES:
        stripped = value.removeprefix(prefix)
        # "msg_" alone is an id as good as any (an unknown one: 404), not an empty one.
        if stripped != value and REQUEST_ID_PATTERN.fullmatch(stripped):
            return stripped
    if not REQUEST_ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            "'id' is not a response id: expected chatcmpl-…, msg_…, resp_… or an x-request-id.",
            "id",
        )
    return value


def _score(score: Any, scale: Any) -> tuple[str, float]:
    """``(scale, raw score)``; a boolean is thumbs, a number needs its scale."""
    if scale is not None and (not isinstance(scale, str) or scale not in _SCALES):
        raise InvalidRequest("'scale' must be one of 'thumbs', 'stars' or 'fraction'.", "scale")
    if isinstance(score, bool):
        if scale not in (None, "thumbs"):
            raise InvalidRequest(
                f"'score' true/false is a thumbs up or down, not a {scale} score.", "score"
            )
        return "thumbs", 1.0 if score else 0.0
    if not isinstance(score, int | float):
        raise InvalidRequest(
            "'score' is required: true/false (thumbs), or a number with its 'scale'.", "score"
        )
    if scale is None:
        raise InvalidRequest(
            "'scale' is required with a numeric score: 'thumbs' (0 or 1), 'stars' (1 to 5) "
            "or 'fraction' (0 to 1).",
            "scale",
        )
    raw = float(score)
    ok = math.isfinite(raw) and (
        (scale == "thumbs" and raw in (0.0, 1.0))
        or (scale == "stars" and raw.is_integer() and 1 <= raw <= 5)
        or (scale == "fraction" and 0 <= raw <= 1)
    )
    if not ok:
        raise InvalidRequest(f"'score' on the {scale} scale must be {_RANGES[scale]}.", "score")
    return scale, raw


def _text(body: dict[str, Any], name: str, most: int) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", name)
    if len(value) > most:
        raise InvalidRequest(f"'{name}' must be at most {most} characters.", name)
    return value
