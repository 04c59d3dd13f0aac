"""The metrics service's error root; each error knows its gRPC code and ``ErrorInfo`` reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import grpc

__all__ = [
    "FeedbackNotAnswer",
    "FeedbackNotFound",
    "FeedbackNotOwner",
    "FieldViolation",
    "InvalidFallbackQuery",
    "InvalidFeedback",
    "InvalidFeedbackQuery",
    "InvalidHealthQuery",
    "InvalidQuery",
    "InvalidRecord",
    "InvalidRequestsQuery",
    "MetricsError",
    "RecordViolation",
    "StorageError",
    "UnknownReferenceModel",
]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad request field, as ``google.rpc.BadRequest.FieldViolation`` reports it."""

    field: str
    description: str


class MetricsError(Exception):
    """Root of every error the metrics service raises on purpose."""

    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    reason: ClassVar[str] = "METRICS_INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)


@dataclass(frozen=True, slots=True)
class RecordViolation:
    """What is wrong with one field of one record of a ``RecordUsage`` batch."""

    index: int
    record_id: str
    field: str
    description: str

    @property
    def path(self) -> str:
        """The field's path in the request, e.g. ``records[3].prompt_tokens``."""
        return f"records[{self.index}].{self.field}"

    def __str__(self) -> str:
        where = f"records[{self.index}]"
        if self.record_id:
            where += f" (id {self.record_id!r})"
        return f"{where}: {self.field} {self.description}"


class InvalidRecord(MetricsError):
    """A ``RecordUsage`` batch holds an invalid record; the whole batch is rejected."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_USAGE_RECORD"

    def __init__(self, violations: Sequence[RecordViolation]) -> None:
        if not violations:
            raise ValueError("InvalidRecord needs at least one violation")
        first = violations[0]
        message = str(first)
        if len(violations) > 1:
            more = len(violations) - 1
            message += f" (and {more} more violation{'s' if more > 1 else ''})"
        super().__init__(
            message,
            metadata={
                "index": str(first.index),
                "id": first.record_id,
                "field": first.field,
                "violations": str(len(violations)),
            },
            field_violations=[FieldViolation(v.path, str(v)) for v in violations],
        )
        self.violations = tuple(violations)


class InvalidQuery(MetricsError):
    """A ``QueryCosts`` request cannot be answered as asked (bad window, dimension...)."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_COST_QUERY"

    def __init__(self, field: str, description: str) -> None:
        super().__init__(
            f"{field}: {description}",
            metadata={"field": field},
            field_violations=[FieldViolation(field, description)],
        )


class InvalidFallbackQuery(InvalidQuery):
    """A ``ListFallbackEvents`` request cannot be answered as asked (bad window, page size)."""

    reason = "INVALID_FALLBACK_QUERY"


class InvalidHealthQuery(InvalidQuery):
    """A ``GetProviderHealth`` request cannot be answered as asked (bad window)."""

    reason = "INVALID_HEALTH_QUERY"


class UnknownReferenceModel(InvalidQuery):
    """``QueryCosts`` asked for savings against a model with no known prices."""

    reason = "UNKNOWN_REFERENCE_MODEL"

    def __init__(self, model: str, configured: str) -> None:
        super().__init__(
            "reference_model",
            f"no prices known for {model!r}: it is neither the configured reference "
            f"({configured!r}) nor in the genai-prices catalogue",
        )
        self.metadata["reference_model"] = model


class StorageError(MetricsError):
    """The ledger database cannot be reached or refused the operation; safe to retry."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    reason = "STORAGE_UNAVAILABLE"


class InvalidRequestsQuery(InvalidQuery):
    """A ``ListRequests`` request cannot be answered as asked (bad window, size, token)."""

    reason = "INVALID_REQUESTS_QUERY"


class InvalidFeedback(InvalidQuery):
    """A ``RecordFeedback`` request holds a bad field (score out of its scale's range, source
    of other characters, label or comment too long...)."""

    reason = "INVALID_FEEDBACK"


class InvalidFeedbackQuery(InvalidQuery):
    """A ``ListFeedback`` or ``QueryQuality`` request cannot be answered as asked."""

    reason = "INVALID_FEEDBACK_QUERY"


class FeedbackNotFound(MetricsError):
    """``RecordFeedback`` names a request with no usage record (unknown, or not shipped yet:
    the router ships usage within its flush interval, so a retry soon after may succeed)."""

    grpc_code = grpc.StatusCode.NOT_FOUND
    reason = "REQUEST_NOT_FOUND"

    def __init__(self, request_id: str) -> None:
        description = f"no usage record of request {request_id!r}"
        super().__init__(
            f"feedback.request_id: {description}",
            metadata={"field": "feedback.request_id", "request_id": request_id},
            field_violations=[FieldViolation("feedback.request_id", description)],
        )


class FeedbackNotOwner(MetricsError):
    """``RecordFeedback`` restricted to a caller (``caller_api_key_id``/``caller_team_id``)
    names a request that another key (and team) made."""

    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    reason = "FEEDBACK_NOT_OWNER"

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"feedback.request_id: request {request_id!r} was made with another API key",
            metadata={"field": "feedback.request_id", "request_id": request_id},
        )


class FeedbackNotAnswer(MetricsError):
    """``RecordFeedback`` names an embedding request: feedback scores chat answers, and a
    score of a vector would move an embedding model's quality estimate."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FEEDBACK_NOT_ANSWER"

    def __init__(self, request_id: str) -> None:
        description = f"request {request_id!r} is an embeddings request: feedback scores answers"
        super().__init__(
            f"feedback.request_id: {description}",
            metadata={"field": "feedback.request_id", "request_id": request_id},
            field_violations=[FieldViolation("feedback.request_id", description)],
        )
