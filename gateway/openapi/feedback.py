"""Schemas of ``POST /v1/feedback`` (the score a client sends and the score as stored) and of
``GET /v1/admin/quality`` (the estimates learned from the scores)."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.parts import obj
from gateway.translate.feedback import ID_PREFIXES

__all__ = ["FEEDBACK_SCHEMAS"]

_SCALES: Final = ["thumbs", "stars", "fraction"]
_ID_PATTERN: Final = "^(" + "|".join(ID_PREFIXES) + ")?[A-Za-z0-9._:-]{1,128}$"
_SOURCE: Final = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}

# Which numbers each scale takes (a boolean is a thumbs up or down, its scale optional).
_SCORES: Final = [
    obj(["score"], {"score": {"type": "boolean"}, "scale": {"enum": ["thumbs", None]}}),
    obj(["score", "scale"], {"score": {"enum": [0, 1]}, "scale": {"const": "thumbs"}}),
    obj(
        ["score", "scale"],
        {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "scale": {"const": "stars"}},
    ),
    obj(
        ["score", "scale"],
        {"score": {"type": "number", "minimum": 0, "maximum": 1}, "scale": {"const": "fraction"}},
    ),
]

_REQUEST: Final = {
    "type": "object",
    "required": ["id", "score"],
    "additionalProperties": False,
    "anyOf": _SCORES,
    "properties": {
        "id": {
            "type": "string",
            "pattern": _ID_PATTERN,
            "description": "The answer's id (chatcmpl-..., msg_..., resp_...) or its "
            "x-request-id header.",
        },
        "score": {
            "type": ["boolean", "number"],
            "description": "true/false: thumbs up or down. A number needs 'scale': thumbs 0 or "
            "1, stars a whole number 1 to 5, fraction 0 to 1.",
        },
        "scale": {
            "enum": [*_SCALES, None],
            "description": "How 'score' is given (required with a number).",
        },
        "label": {
            "type": ["string", "null"],
            "maxLength": 64,
            "pattern": "^[^\\x00-\\x1f\\x7f]*$",
            "description": "A short tag, e.g. 'wrong'.",
        },
        "comment": {"type": ["string", "null"], "maxLength": 2000},
        "source": {
            "type": ["string", "null"],
            "pattern": _SOURCE["pattern"],
            "description": "Who scores (default 'user'); 'judge:...' sources need an admin key.",
        },
    },
}

_STORED: Final = obj(
    ["object", "request_id", "source", "score", "scale", "raw_score", "model", "replaced"],
    {
        "object": {"const": "feedback"},
        "request_id": {"type": "string", "description": "The router's request id."},
        "source": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "Normalised."},
        "scale": {"enum": _SCALES},
        "raw_score": {"type": "number", "description": "As given on its scale."},
        "label": {"type": "string"},
        "comment": {"type": "string"},
        "model": {"type": "string", "description": "The model that served the answer."},
        "category": {"type": "string"},
        "deployment": {"type": "string"},
        "api_key_id": {"type": "string"},
        "team_id": {"type": "string"},
        "time": {"type": ["string", "null"], "format": "date-time"},
        "replaced": {
            "type": "boolean",
            "description": "An earlier score of the same id and source was replaced.",
        },
    },
)

_NUMBER: Final = {"type": "number"}
_ESTIMATES: Final = obj(
    ["min_samples", "estimates"],
    {
        "min_samples": {
            "type": "integer",
            "description": "Scores a model x category needs before scoring uses its estimate.",
        },
        "estimates": {
            "type": "array",
            "items": obj(
                ["model", "category", "prior", "samples", "estimate", "lower", "upper", "in_use"],
                {
                    "model": {"type": "string"},
                    "category": {"type": "string"},
                    "prior": {**_NUMBER, "description": "The configured quality."},
                    "prior_weight": {**_NUMBER, "description": "The prior's weight, in scores."},
                    "samples": {"type": "integer"},
                    "user_samples": {"type": "integer"},
                    "judge_samples": {"type": "integer"},
                    "observed_mean": _NUMBER,
                    "estimate": {**_NUMBER, "description": "The posterior mean."},
                    "lower": {**_NUMBER, "description": "90 % credible interval, lower end."},
                    "upper": {**_NUMBER, "description": "90 % credible interval, upper end."},
                    "in_use": {
                        "type": "boolean",
                        "description": "Scoring uses the estimate (else the prior).",
                    },
                },
            ),
        },
    },
)

FEEDBACK_SCHEMAS: Final[dict[str, Any]] = {
    "FeedbackRequest": _REQUEST,
    "Feedback": _STORED,
    "QualityEstimateList": _ESTIMATES,
}
