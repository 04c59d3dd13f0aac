"""Errors of the Messages API front door in Anthropic's shape.

Anthropic's errors (https://docs.anthropic.com/en/api/errors) are ``{"type": "error", "error":
{"type", "message"}, "request_id"}`` with a ``request-id`` header, and a fixed status per type:
400 ``invalid_request_error``, 401 ``authentication_error``, 403 ``permission_error``, 404
``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 500 ``api_error``,
504 ``timeout_error``, 529 ``overloaded_error``. A :class:`GatewayError` is rendered here by its
HTTP status: the router's "no model could answer" (503) becomes 529 ``overloaded_error`` and a
bad answer from upstream (502) 500 ``api_error``; the ``anthropic`` SDK picks its exception
class from the status. ``Retry-After`` and ``x-should-retry`` (which the SDK obeys) are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.errors import GatewayError, UpstreamError
from gateway.web import JSONResponse

__all__ = ["anthropic_error", "anthropic_error_response"]

# Our HTTP status -> (Anthropic's status, error type).
_BY_STATUS: Final[Mapping[int, tuple[int, str]]] = {
    400: (400, "invalid_request_error"),
    401: (401, "authentication_error"),
    403: (403, "permission_error"),
    404: (404, "not_found_error"),
    405: (405, "invalid_request_error"),
    409: (409, "invalid_request_error"),
    413: (413, "request_too_large"),
    415: (415, "invalid_request_error"),
    429: (429, "rate_limit_error"),
    499: (499, "api_error"),
    500: (500, "api_error"),
    501: (500, "api_error"),
    502: (500, "api_error"),
    503: (529, "overloaded_error"),
    504: (504, "timeout_error"),
}
_DEFAULT: Final = (500, "api_error")


def _status_and_type(error: GatewayError) -> tuple[int, str]:
    if error.http_status in _BY_STATUS:
        return _BY_STATUS[error.http_status]
    return (400, "invalid_request_error") if 400 <= error.http_status < 500 else _DEFAULT


def _request_id(error: GatewayError, fallback: str) -> str:
    """The router's id for the failed request when it gave one, else the gateway's."""
    return error.request_id if isinstance(error, UpstreamError) and error.request_id else fallback


def anthropic_error(error: GatewayError, request_id: str) -> dict[str, Any]:
    """The body of ``error`` (``request_id``: the gateway's id of the request), also the
    data of a stream's ``error`` event."""
    _, kind = _status_and_type(error)
    return {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": _request_id(error, request_id),
    }


def anthropic_error_response(error: GatewayError, request_id: str) -> JSONResponse:
    """``error`` as Anthropic's error response: its status, body and ``request-id`` header."""
    status, _ = _status_and_type(error)
    rid = _request_id(error, request_id)
    headers = {**error.headers(), "request-id": rid}
    if "x-request-id" not in headers:
        headers["x-request-id"] = rid
    return JSONResponse(anthropic_error(error, request_id), status_code=status, headers=headers)
