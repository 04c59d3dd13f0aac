"""The router's one error root and its typed upstream failures.

Each class declares, in its ``class`` line, its gRPC status code, its ``ErrorInfo`` reason and
(upstream failures) whether it is worth another attempt and whether it counts against the
model's breaker; :func:`to_rpc_status` turns any of them into a rich ``google.rpc.Status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import grpc

from llmrouter.request_ids import ERROR_INFO_REQUEST_ID
from llmrouter.serving import abort
from llmrouter.status import DOMAIN, clip, rich_status

from .public_errors import PublicErrors

if TYPE_CHECKING:
    from .chat import TokenUsage

__all__ = [
    "DOMAIN",
    "NO_RETRY_PUSHBACK",
    "AdminStoreUnavailable",
    "AllCandidatesFailed",
    "AllCandidatesOutOfQuota",
    "AllCandidatesRateLimited",
    "AlreadyExists",
    "AuthFailed",
    "BadUpstreamRequest",
    "BreakerOpen",
    "ConnectionFailed",
    "ContentFiltered",
    "ContextLengthExceeded",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidRequest",
    "MalformedResponse",
    "ModelNotAllowed",
    "ModelNotFound",
    "ModelRateLimited",
    "NoCandidates",
    "NotFound",
    "ProviderError",
    "QuotaExhausted",
    "RateLimited",
    "ReportedAsStatus",
    "ResponseTooLarge",
    "RouterError",
    "StreamInterrupted",
    "UpstreamPaused",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "clip",
    "to_rpc_status",
]

_Code = grpc.StatusCode


class RouterError(Exception):
    """Root of every error the router reports to callers."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    reason: ClassVar[str] = "INTERNAL"
    # Whether the whole message is in the log already (an attempt's failure, logged by its
    # attempt when the caller's copy hid part of it): not logged again for the request.
    logged: bool = False

    def __init_subclass__(
        cls, *, code: grpc.StatusCode | None = None, reason: str = "", **kwargs: Any
    ) -> None:
        """Take the subclass's code and reason from its class line (inherited when absent)."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if reason:
            cls.reason = reason

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


class InvalidRequest(RouterError, code=_Code.INVALID_ARGUMENT, reason="INVALID_REQUEST"):
    """The request itself is wrong; ``field`` names the offending field."""


class ResponseTooLarge(RouterError, code=_Code.RESOURCE_EXHAUSTED, reason="RESPONSE_TOO_LARGE"):
    """The answer is larger than ``max_response_bytes``: not sent, and not retried elsewhere
    (the upstream has already served it). Not a rate limit, although gRPC's code for a
    message over a size limit is RESOURCE_EXHAUSTED too: the reason tells them apart."""


class ModelNotFound(RouterError, code=_Code.NOT_FOUND, reason="MODEL_NOT_FOUND"):
    """An explicit model or alias that the registry does not know."""


class NotFound(RouterError, code=_Code.NOT_FOUND, reason="NOT_FOUND"):
    """An admin target (model, provider, category) that does not exist."""


class AlreadyExists(RouterError, code=_Code.ALREADY_EXISTS, reason="ALREADY_EXISTS"):
    """An admin create of something that already exists."""


class FailedPrecondition(RouterError, code=_Code.FAILED_PRECONDITION, reason="FAILED_PRECONDITION"):
    """An admin change the target's state does not allow (updating a revoked key)."""


class ModelNotAllowed(RouterError, code=_Code.PERMISSION_DENIED, reason="MODEL_NOT_ALLOWED"):
    """The caller's API key may not use the model (or category) the request asks for."""


class AdminStoreUnavailable(RouterError, code=_Code.UNAVAILABLE, reason="ADMIN_STORE_UNAVAILABLE"):
    """The admin store cannot be read or written: the change was not made (nor recorded)."""


class NoCandidates(RouterError, code=_Code.UNAVAILABLE, reason="NO_AVAILABLE_MODEL"):
    """Every model of the chain was filtered out (disabled, open breaker, capability, window)."""


class AllCandidatesFailed(RouterError, code=_Code.UNAVAILABLE, reason="ALL_MODELS_FAILED"):
    """Every attempt failed with a retryable error."""


class AllCandidatesRateLimited(
    RouterError, code=_Code.RESOURCE_EXHAUSTED, reason="ALL_MODELS_RATE_LIMITED"
):
    """Every attempt was rate limited: the caller should slow down (429 over HTTP)."""


class BudgetExceeded(RouterError, code=_Code.RESOURCE_EXHAUSTED, reason="BUDGET_EXCEEDED"):
    """A hard budget ([[router.budgets]]) leaves no room for this request on any model of its
    chain; ErrorInfo metadata ``budget`` names the rule (429 insufficient_quota over HTTP)."""


class AllCandidatesOutOfQuota(
    RouterError, code=_Code.UNAVAILABLE, reason="ALL_MODELS_QUOTA_EXHAUSTED"
):
    """Every attempt hit an exhausted quota or credit balance (a billing state, not a rate
    limit): waiting will not help until an operator pays or raises the limit (503 over HTTP)."""


class DeadlineExceeded(RouterError, code=_Code.DEADLINE_EXCEEDED, reason="DEADLINE_EXCEEDED"):
    """The request's deadline passed before any model answered."""


class StreamInterrupted(RouterError, code=_Code.UNAVAILABLE, reason="STREAM_INTERRUPTED"):
    """An upstream failed after content was sent; the stream cannot be completed."""


class ProviderError(RouterError):
    """A classified upstream failure. ``retryable`` failures may retry or fail over."""

    retryable: ClassVar[bool] = False
    # Whether the failure says something about the model's health (counts against its breaker).
    counts_against_breaker: ClassVar[bool] = True
    # The usage the upstream reported for the failed call, billed to the attempt (a paused
    # turn's); None for most failures, which report none.
    usage: TokenUsage | None = None

    def __init_subclass__(
        cls,
        *,
        retryable: bool | None = None,
        counts_against_breaker: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Take the subclass's retry and breaker flags from its class line (else inherited)."""
        super().__init_subclass__(**kwargs)
        if retryable is not None:
            cls.retryable = retryable
        if counts_against_breaker is not None:
            cls.counts_against_breaker = counts_against_breaker

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


class RateLimited(
    ProviderError, code=_Code.RESOURCE_EXHAUSTED, reason="RATE_LIMITED", retryable=True
):
    """HTTP 429 or an equivalent; ``retry_after`` holds the upstream's hint."""


class UpstreamUnavailable(
    ProviderError, code=_Code.UNAVAILABLE, reason="UPSTREAM_UNAVAILABLE", retryable=True
):
    """5xx, overloaded (Anthropic 529) or an unavailable upstream."""


class UpstreamTimeout(
    ProviderError, code=_Code.DEADLINE_EXCEEDED, reason="UPSTREAM_TIMEOUT", retryable=True
):
    """The upstream did not answer (or produce a first token) in time."""


class ConnectionFailed(
    ProviderError, code=_Code.UNAVAILABLE, reason="CONNECTION_FAILED", retryable=True
):
    """The upstream could not be reached or dropped the connection."""


class MalformedResponse(
    ProviderError, code=_Code.UNAVAILABLE, reason="MALFORMED_RESPONSE", retryable=True
):
    """The upstream answered with something that is not a valid response. ``usage``: the
    counts it reported readably all the same (a whole answer's), billed to the attempt, or
    None."""

    def __init__(self, message: str, usage: TokenUsage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class UpstreamPaused(
    ProviderError,
    code=_Code.UNAVAILABLE,
    reason="UPSTREAM_PAUSED",
    retryable=True,
    counts_against_breaker=False,
):
    """The upstream paused its turn before the answer was finished (Anthropic's ``pause_turn``
    stop reason): not an answer, and no fault of the model. Fails over (a stream with content
    relayed is continued, :mod:`~router_svc.routing.continuation`). ``usage``: what the
    upstream reported using for the paused turn (billed to the attempt), or None."""

    def __init__(self, message: str, usage: TokenUsage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class AuthFailed(
    ProviderError, code=_Code.UNAVAILABLE, reason="UPSTREAM_AUTH_FAILED", retryable=True
):
    """The upstream rejected our credentials (401/403): fail over, count against the breaker."""


class QuotaExhausted(AuthFailed, reason="UPSTREAM_QUOTA_EXHAUSTED"):
    """The account behind our key has no quota or credit left (OpenAI 429 ``insufficient_quota``,
    Anthropic/OpenRouter 402): fail over at once like a rejected key, never retry the model."""


class ContextLengthExceeded(
    ProviderError,
    code=_Code.INVALID_ARGUMENT,
    reason="CONTEXT_LENGTH_EXCEEDED",
    counts_against_breaker=False,
):
    """The prompt does not fit the model's window; only a larger-window model can help."""


class ContentFiltered(
    ProviderError,
    code=_Code.FAILED_PRECONDITION,
    reason="CONTENT_FILTERED",
    counts_against_breaker=False,
):
    """The upstream refused the content."""


class BadUpstreamRequest(
    ProviderError,
    code=_Code.INVALID_ARGUMENT,
    reason="UPSTREAM_BAD_REQUEST",
    counts_against_breaker=False,
):
    """The upstream says the request is invalid (400): another model would say the same."""


class BreakerOpen(
    ProviderError,
    code=_Code.UNAVAILABLE,
    reason="BREAKER_OPEN",
    retryable=True,
    counts_against_breaker=False,
):
    """The model's circuit breaker is open: rejected without calling it."""


class ModelRateLimited(
    ProviderError,
    code=_Code.RESOURCE_EXHAUSTED,
    reason="MODEL_RATE_LIMITED",
    retryable=True,
    counts_against_breaker=False,
):
    """The model's (or its provider's) configured rpm / tpm quota is used up: passed over
    without calling it, as the provider would have answered 429 (router_svc.quotas)."""


# On every error the router answers with: gRPC's retry policy (gRFC A6, "Pushback") never
# retries a call whose server sent a negative pushback. The gateway retries UNAVAILABLE on
# another replica only when a replica went away without answering, never the router's own
# UNAVAILABLE (all models failed, ...), which another replica would only repeat upstream.
NO_RETRY_PUSHBACK = ("grpc-retry-pushback-ms", "-1")


@dataclass(frozen=True, slots=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def to_rpc_status(error: RouterError, public: PublicErrors | None = None) -> grpc.Status:
    """A ``grpc.Status`` with ``ErrorInfo`` (and ``RetryInfo``/``BadRequest`` where known),
    and the pushback that keeps clients' gRPC retry policies from retrying it.

    ``public`` rewrites the message for the caller (provider ids and upstream addresses
    masked, the whole message logged); None sends it as it is (admin RPCs: their callers are
    operators, who address providers by id)."""
    message = error.message
    if public is not None:
        if error.logged:
            message = public.text(message)
        else:
            request_id = error.metadata.get(ERROR_INFO_REQUEST_ID, "") or "-"
            message = public.logged(message, "request %s failed (%s)", request_id, error.reason)
    violations = ((error.field, message),) if error.field else ()
    status = rich_status(
        error.code,
        message,
        error.reason,
        metadata=error.metadata,
        retry_after=error.retry_after,
        violations=violations,
    )
    return _Status(status.code, status.details, (*status.trailing_metadata, NO_RETRY_PUSHBACK))


class ReportedAsStatus:
    """``async with ReportedAsStatus(context):`` ends the call with the rich status of any
    :class:`RouterError` raised inside (one place for what every RPC handler did in its own
    ``except RouterError``), its message rewritten by ``public`` when given (see
    :func:`to_rpc_status`); other exceptions pass through unchanged."""

    __slots__ = ("_context", "_public")

    def __init__(
        self, context: grpc.aio.ServicerContext[Any, Any], public: PublicErrors | None = None
    ) -> None:
        self._context = context
        self._public = public

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, RouterError):
            await abort(self._context, to_rpc_status(exc, self._public))
