"""The router's one error root and its typed upstream failures.

Each class declares its gRPC status code, its ``ErrorInfo`` reason and whether it is worth
another attempt; :func:`to_rpc_status` turns any of them into a rich ``google.rpc.Status``.
"""

from __future__ import annotations

from typing import ClassVar

import grpc

from llmrouter.status import DOMAIN, clip, rich_status

__all__ = [
    "DOMAIN",
    "AllCandidatesFailed",
    "AllCandidatesRateLimited",
    "AlreadyExists",
    "AuthFailed",
    "BadUpstreamRequest",
    "BreakerOpen",
    "ConnectionFailed",
    "ContentFiltered",
    "ContextLengthExceeded",
    "DeadlineExceeded",
    "InvalidRequest",
    "MalformedResponse",
    "ModelNotFound",
    "NoCandidates",
    "NotFound",
    "ProviderError",
    "RateLimited",
    "ResponseTooLarge",
    "RetryBudgetExhausted",
    "RouterError",
    "StreamInterrupted",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "clip",
    "to_rpc_status",
]


class RouterError(Exception):
    """Root of every error the router reports to callers."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    reason: ClassVar[str] = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        field: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.field = field
        self.metadata = dict(metadata or {})


class InvalidRequest(RouterError):
    """The request itself is wrong; ``field`` names the offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_REQUEST"


class ResponseTooLarge(RouterError):
    """The answer is larger than ``max_response_bytes``: not sent, and not retried elsewhere
    (the upstream has already served it). Not a rate limit, although gRPC's code for a
    message over a size limit is RESOURCE_EXHAUSTED too: the reason tells them apart."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESPONSE_TOO_LARGE"


class ModelNotFound(RouterError):
    """An explicit model or alias that the registry does not know."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "MODEL_NOT_FOUND"


class NotFound(RouterError):
    """An admin target (model, provider, category) that does not exist."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(RouterError):
    """An admin create of something that already exists."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class NoCandidates(RouterError):
    """Every model of the chain was filtered out (disabled, open breaker, capability, window)."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "NO_AVAILABLE_MODEL"


class AllCandidatesFailed(RouterError):
    """Every attempt failed with a retryable error."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "ALL_MODELS_FAILED"


class AllCandidatesRateLimited(RouterError):
    """Every attempt was rate limited: the caller should slow down (429 over HTTP)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "ALL_MODELS_RATE_LIMITED"


class RetryBudgetExhausted(RouterError):
    """Too many recent attempts failed; the router fails fast instead of amplifying load."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "RETRY_BUDGET_EXHAUSTED"


class DeadlineExceeded(RouterError):
    """The request's deadline passed before any model answered."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


class StreamInterrupted(RouterError):
    """An upstream failed after content was sent; the stream cannot be completed."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "STREAM_INTERRUPTED"


class ProviderError(RouterError):
    """A classified upstream failure. ``retryable`` failures may retry or fail over."""

    retryable: ClassVar[bool] = False
    # Whether the failure says something about the model's health (counts against its breaker).
    counts_against_breaker: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int = 0,
        field: str = "",
    ) -> None:
        super().__init__(message, retry_after=retry_after, field=field)
        self.http_status = http_status


class RateLimited(ProviderError):
    """HTTP 429 or an equivalent; ``retry_after`` holds the upstream's hint."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"
    retryable = True


class UpstreamUnavailable(ProviderError):
    """5xx, overloaded (Anthropic 529) or an unavailable upstream."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UPSTREAM_UNAVAILABLE"
    retryable = True


class UpstreamTimeout(ProviderError):
    """The upstream did not answer (or produce a first token) in time."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "UPSTREAM_TIMEOUT"
    retryable = True


class ConnectionFailed(ProviderError):
    """The upstream could not be reached or dropped the connection."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "CONNECTION_FAILED"
    retryable = True


class MalformedResponse(ProviderError):
    """The upstream answered with something that is not a valid response."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "MALFORMED_RESPONSE"
    retryable = True


class AuthFailed(ProviderError):
    """The upstream rejected our credentials (401/403): fail over, count against the breaker."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UPSTREAM_AUTH_FAILED"
    retryable = True


class ContextLengthExceeded(ProviderError):
    """The prompt does not fit the model's window; only a larger-window model can help."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "CONTEXT_LENGTH_EXCEEDED"
    counts_against_breaker = False


class ContentFiltered(ProviderError):
    """The upstream refused the content."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "CONTENT_FILTERED"
    counts_against_breaker = False


class BadUpstreamRequest(ProviderError):
    """The upstream says the request is invalid (400): another model would say the same."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "UPSTREAM_BAD_REQUEST"
    counts_against_breaker = False


class BreakerOpen(ProviderError):
    """The model's circuit breaker is open: rejected without calling it."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "BREAKER_OPEN"
    retryable = True
    counts_against_breaker = False


def to_rpc_status(error: RouterError) -> grpc.Status:
    """A ``grpc.Status`` with ``ErrorInfo`` (and ``RetryInfo``/``BadRequest`` where known)."""
    violations = ((error.field, error.message),) if error.field else ()
    return rich_status(
        error.code,
        error.message,
        error.reason,
        metadata=error.metadata,
        retry_after=error.retry_after,
        violations=violations,
    )
