"""The gateway's one error root, and the one table from gRPC status codes to HTTP.

Every error a client sees is a :class:`GatewayError` rendered as OpenAI's error body
``{"error": {"message", "type", "param", "code"}}``. Errors of the router arrive as
``grpc.aio.AioRpcError`` and are converted at the boundary by :func:`from_rpc_error`.

RESOURCE_EXHAUSTED means two different things: the router's rate limits carry our ErrorInfo
(429, which clients retry), while gRPC itself uses it for a message over a size limit, with no
ErrorInfo. A request too large is a 413 and an answer too large a 502 marked
``x-should-retry: false`` (the OpenAI SDKs obey it): retrying would only have the upstream
serve, and bill, the same answer again.

UNAUTHENTICATED and PERMISSION_DENIED from a service mean the gateway's own credential (its
token or certificate) was refused, never the client's API key (checked here, as 401/403): they
are a 502 with a generic message (except the router's MODEL_NOT_ALLOWED, a 403 naming the model
the caller's virtual key may not use, and the metrics service's FEEDBACK_NOT_OWNER, a 403 for
feedback on another key's request), so an SDK does not report a bad key to a user whose key is
fine, and a warning in the log names the gateway keys to check.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.size_errors import size_refusal
from llmrouter.request_ids import ERROR_INFO_REQUEST_ID, REQUEST_ID_PATTERN

__all__ = [
    "ADMIN_NEEDED",
    "FEEDBACK_NOT_OWNER_REASON",
    "GENERIC_MESSAGE",
    "GRPC_TO_HTTP",
    "AuthenticationFailed",
    "BodyTooLarge",
    "GatewayError",
    "HttpMapping",
    "InvalidRequest",
    "PermissionDenied",
    "UpstreamError",
    "from_rpc_error",
]

GENERIC_MESSAGE = "The server had an error while processing your request."

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpMapping:
    """How one gRPC status code is shown to HTTP clients."""

    # HTTP status, as grpc-gateway v2 maps the code (runtime.HTTPStatusFromCode).
    status: int
    # OpenAI-style error type.
    error_type: str


_C = grpc.StatusCode
GRPC_TO_HTTP: Mapping[grpc.StatusCode, HttpMapping] = MappingProxyType(
    {
        _C.OK: HttpMapping(200, ""),
        _C.CANCELLED: HttpMapping(499, "request_cancelled"),
        _C.UNKNOWN: HttpMapping(500, "api_error"),
        _C.INVALID_ARGUMENT: HttpMapping(400, "invalid_request_error"),
        _C.DEADLINE_EXCEEDED: HttpMapping(504, "timeout_error"),
        _C.NOT_FOUND: HttpMapping(404, "not_found_error"),
        _C.ALREADY_EXISTS: HttpMapping(409, "conflict_error"),
        _C.PERMISSION_DENIED: HttpMapping(403, "permission_error"),
        _C.UNAUTHENTICATED: HttpMapping(401, "authentication_error"),
        _C.RESOURCE_EXHAUSTED: HttpMapping(429, "rate_limit_error"),
        _C.FAILED_PRECONDITION: HttpMapping(400, "invalid_request_error"),
        _C.ABORTED: HttpMapping(409, "conflict_error"),
        _C.OUT_OF_RANGE: HttpMapping(400, "invalid_request_error"),
        _C.UNIMPLEMENTED: HttpMapping(501, "not_implemented_error"),
        _C.INTERNAL: HttpMapping(500, "api_error"),
        _C.UNAVAILABLE: HttpMapping(503, "service_unavailable_error"),
        _C.DATA_LOSS: HttpMapping(500, "api_error"),
    }
)

# The router's reason for a request its caller's virtual key may not make (a model or category
# outside the key's allowed ones): the client's 403, not a refused gateway credential.
MODEL_NOT_ALLOWED_REASON = "MODEL_NOT_ALLOWED"
# The metrics service's reason for feedback on a request another key made: the client's 403.
FEEDBACK_NOT_OWNER_REASON = "FEEDBACK_NOT_OWNER"
# Refusals that are about the client's request, not the gateway's credential.
_CLIENT_REFUSALS = frozenset({MODEL_NOT_ALLOWED_REASON, FEEDBACK_NOT_OWNER_REASON})
# The router's reason for an answer over its max_response_bytes.
RESPONSE_TOO_LARGE_REASON = "RESPONSE_TOO_LARGE"
_TOO_LARGE_REQUEST = HttpMapping(413, "invalid_request_error")
_TOO_LARGE_ANSWER = HttpMapping(502, "upstream_error")

# A service refused the gateway's own credential (access.py's TOKEN_MISSING, TOKEN_INVALID,
# CERTIFICATE_NOT_ACCEPTED, SCOPE_MISSING, or any other refusal): the server's fault, not the
# client's, and retrying will not help until an operator fixes the configuration.
_REFUSED_CODES = frozenset({_C.UNAUTHENTICATED, _C.PERMISSION_DENIED})
_NOT_AUTHORIZED = HttpMapping(502, "upstream_error")
# The gateway keys that decide what the gateway presents to each service, by service name.
_CREDENTIAL_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "router": "gateway.router_token_env, gateway.router_admin_token_env and gateway.router_tls",
        "metrics service": "gateway.metrics_token_env and gateway.metrics_tls",
    }
)

# The router's reason for a request refused by a hard budget ([[router.budgets]]): OpenAI's
# insufficient_quota 429 (type and code insufficient_quota), marked x-should-retry: false
# (retrying cannot help before the budget's period ends; the OpenAI SDKs obey the header).
BUDGET_EXCEEDED_REASON = "BUDGET_EXCEEDED"
_INSUFFICIENT_QUOTA = HttpMapping(429, "insufficient_quota")

# The router's reason for an upstream's 400; the ErrorInfo key of the upstream's own code.
_UPSTREAM_BAD_REQUEST = "UPSTREAM_BAD_REQUEST"
_UPSTREAM_CODE = "upstream_code"
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

# Codes whose details may describe our internals; clients get GENERIC_MESSAGE instead.
_OPAQUE_CODES = frozenset({_C.UNKNOWN, _C.INTERNAL, _C.DATA_LOSS})

# Messages for server-side codes that did not come from the router itself (no rich status):
# gRPC core writes those details, and they name internal addresses.
_TRANSPORT_MESSAGES: Mapping[grpc.StatusCode, str] = MappingProxyType(
    {
        _C.UNAVAILABLE: "The {service} is unavailable; please retry shortly.",
        _C.DEADLINE_EXCEEDED: "The request timed out.",
        _C.UNIMPLEMENTED: "This operation is not supported by the {service}.",
        _C.CANCELLED: "The request was cancelled.",
    }
)


class GatewayError(Exception):
    """Root of every error the gateway reports; knows its HTTP status and OpenAI type."""

    default_status: ClassVar[int] = 500
    default_type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
        http_status: int | None = None,
        error_type: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        # Whole seconds for the Retry-After header; None when no delay is known.
        self.retry_after = retry_after
        self.http_status = self.default_status if http_status is None else http_status
        self.error_type = error_type or self.default_type
        # x-should-retry (obeyed by the OpenAI SDKs); None leaves it to the status code.
        self.should_retry = should_retry

    def body(self) -> dict[str, Any]:
        """The OpenAI-shaped error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        """Extra response headers: ``Retry-After`` when a delay is known, ``x-should-retry``
        when retrying is known to be right or wrong."""
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        if self.should_retry is not None:
            headers["x-should-retry"] = "true" if self.should_retry else "false"
        return headers


class InvalidRequest(GatewayError):
    """The request body is wrong; ``param`` names the field (e.g. ``messages[2].role``)."""

    default_status = 400
    default_type = "invalid_request_error"

    def __init__(self, message: str, param: str | None = None, *, code: str | None = None):
        super().__init__(message, param=param, code=code)


class BodyTooLarge(GatewayError):
    """The request body exceeds ``max_body_bytes``; ``close`` when the connection is not to be
    reused (the body announced is more than the gateway reads to drop it)."""

    default_status = 413
    default_type = "invalid_request_error"

    def __init__(self, message: str, *, code: str | None = None, close: bool = False) -> None:
        super().__init__(message, code=code)
        self.close = close

    def headers(self) -> dict[str, str]:
        """``Connection: close`` when ``close``: the rest of the body is not read."""
        return {"connection": "close"} if self.close else {}


class AuthenticationFailed(GatewayError):
    """No API key, or one the gateway does not accept (OpenAI answers both the same way)."""

    default_status = 401
    default_type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_api_key")

    def headers(self) -> dict[str, str]:
        """``WWW-Authenticate: Bearer`` (RFC 6750), as every 401 must name a scheme."""
        return {"www-authenticate": "Bearer"}


# Modelled on OpenAI's answer to a key without the scope an operation needs.
ADMIN_NEEDED = (
    "You have insufficient permissions for this operation: it needs an admin API key "
    "(gateway.api_keys with admin = true, or a virtual key with role admin)."
)


class PermissionDenied(GatewayError):
    """The key is valid but may not do this (a non-admin key on an admin route, or asking
    for another key's usage); ``param`` names the field when one is at fault."""

    default_status = 403
    default_type = "permission_error"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message, param=param, code="insufficient_permissions")


class UpstreamError(GatewayError):
    """A failure reported by the router (or the channel to it), mapped through GRPC_TO_HTTP."""

    def __init__(
        self,
        grpc_code: grpc.StatusCode,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
        request_id: str = "",
        mapping: HttpMapping | None = None,
        should_retry: bool | None = None,
    ) -> None:
        # ``mapping`` overrides the table for a code whose meaning depends on its details.
        mapping = mapping or GRPC_TO_HTTP.get(grpc_code, GRPC_TO_HTTP[_C.UNKNOWN])
        super().__init__(
            message,
            param=param,
            code=code,
            retry_after=retry_after,
            http_status=mapping.status,
            error_type=mapping.error_type,
            should_retry=should_retry,
        )
        self.grpc_code = grpc_code
        # The id the router gave the failed request ("" when it had none yet): the
        # request_id of the usage records of its attempts.
        self.request_id = request_id

    def headers(self) -> dict[str, str]:
        """``Retry-After`` when a delay is known; ``x-request-id`` when the router named the
        request."""
        headers = super().headers()
        if self.request_id:
            headers["x-request-id"] = self.request_id
        return headers


def from_rpc_error(exc: grpc.RpcError, service: str = "router") -> UpstreamError:
    """Convert a failed call to ``service``, reading ErrorInfo, RetryInfo and BadRequest."""
    grpc_code = exc.code()
    if grpc_code not in GRPC_TO_HTTP or grpc_code is _C.OK:
        grpc_code = _C.UNKNOWN
    status = _rich_status(exc)
    reason: str | None = None
    param: str | None = None
    retry_after: int | None = None
    request_id = ""
    upstream_code = ""
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason or None
                upstream_code = info.metadata.get(_UPSTREAM_CODE, "")
                named = info.metadata.get(ERROR_INFO_REQUEST_ID, "")
                request_id = named if REQUEST_ID_PATTERN.fullmatch(named) else ""
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
                # Round up: a client retrying on the dot must not come back early.
                retry_after = max(0, math.ceil(delay))
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                if bad.field_violations:
                    param = bad.field_violations[0].field or None
    if grpc_code in _REFUSED_CODES and reason not in _CLIENT_REFUSALS:
        return _not_authorized(exc, grpc_code, service, reason, status, request_id)
    if grpc_code in _OPAQUE_CODES:
        message = GENERIC_MESSAGE
    elif status is not None and status.message:
        message = status.message
    elif grpc_code in _TRANSPORT_MESSAGES:
        message = _TRANSPORT_MESSAGES[grpc_code].format(service=service)
    else:
        message = exc.details() or GENERIC_MESSAGE
    if grpc_code is _C.RESOURCE_EXHAUSTED:
        too_large = _size_limit(exc, service, reason, message, request_id)
        if too_large is not None:
            return too_large
    if reason == BUDGET_EXCEEDED_REASON:
        return UpstreamError(
            grpc_code,
            message,
            code="insufficient_quota",
            retry_after=retry_after,
            request_id=request_id,
            mapping=_INSUFFICIENT_QUOTA,
            should_retry=False,
        )
    code = reason.lower() if reason else grpc_code.name.lower()
    if reason == _UPSTREAM_BAD_REQUEST and _IDENTIFIER.fullmatch(upstream_code):
        code = upstream_code  # the upstream's code for the client's field (unsupported_value)
    return UpstreamError(
        grpc_code, message, param=param, code=code, retry_after=retry_after, request_id=request_id
    )


def _not_authorized(
    exc: grpc.RpcError,
    grpc_code: grpc.StatusCode,
    service: str,
    reason: str | None,
    status: status_pb2.Status | None,
    request_id: str,
) -> UpstreamError:
    """The 502 for a refused gateway credential; logs, for the operator, what was refused
    (our services' messages name the method and scope, never a token) and what to check."""
    detail = status.message if status is not None and status.message else exc.details()
    logger.warning(
        "gateway: the %s refused the gateway's credential (%s: %s); check %s against the "
        "%s's auth_tokens / client_certs",
        service,
        reason or grpc_code.name,
        detail or "no details",
        _CREDENTIAL_KEYS.get(service, "the gateway's credentials"),
        service,
    )
    return UpstreamError(
        grpc_code,
        f"The gateway is not authorized by the {service}. This is a problem in the server's "
        "configuration, not with your API key.",
        code="gateway_not_authorized",
        request_id=request_id,
        mapping=_NOT_AUTHORIZED,
        should_retry=False,
    )


def _size_limit(
    exc: grpc.RpcError, service: str, reason: str | None, message: str, request_id: str
) -> UpstreamError | None:
    """A RESOURCE_EXHAUSTED that is a message over a size limit (413 or 502 by direction):
    the router's RESPONSE_TOO_LARGE, or gRPC's own words without any ErrorInfo. None for the
    rest (rate limits)."""
    code = _C.RESOURCE_EXHAUSTED
    if reason == RESPONSE_TOO_LARGE_REASON:  # the router measured its own answer
        return UpstreamError(
            code,
            message,
            code="response_too_large",
            request_id=request_id,
            mapping=_TOO_LARGE_ANSWER,
            should_retry=False,
        )
    refusal = None if reason is not None else size_refusal(exc.details() or "", service)
    if refusal is None:
        return None
    if refusal.request:
        return UpstreamError(
            code, refusal.message, code="request_too_large", mapping=_TOO_LARGE_REQUEST
        )
    return UpstreamError(
        code,
        refusal.message,
        code="response_too_large",
        mapping=_TOO_LARGE_ANSWER,
        should_retry=False,
    )


def _rich_status(exc: grpc.RpcError) -> status_pb2.Status | None:
    # AioRpcError has the code()/details()/trailing_metadata() that from_call reads.
    try:
        status = rpc_status.from_call(cast(grpc.Call, exc))
    except ValueError:  # details inconsistent with the status: ignore them
        return None
    return cast(status_pb2.Status | None, status)
