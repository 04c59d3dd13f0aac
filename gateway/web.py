"""HTTP plumbing shared by every endpoint: JSON responses, request ids, bodies, routing errors."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BodyTooLarge, GatewayError, InvalidRequest
from gateway.limits import DRAIN_BYTES
from llmrouter.request_ids import REQUEST_ID_PATTERN, new_request_id
from llmrouter.sizes import describe_bytes

__all__ = [
    "JSONResponse",
    "RequestIdMiddleware",
    "error_response",
    "http_exception",
    "read_json",
    "request_id",
    "request_id_headers",
    "too_large",
    "with_request_ids",
]


class JSONResponse(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as JSON."""
        return orjson.dumps(content)


class RequestIdMiddleware:
    """Give every request a generated id and every response the ``x-request-id`` header,
    routing errors included; a client's tame X-Request-Id comes back as ``x-client-request-id``.

    The id is never the client's (a client could repeat it). An endpoint that learns the id the
    router gave the request sets ``x-request-id`` itself, and that one is kept: it is the
    ``request_id`` of the request's usage records.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = request_id_headers(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_request_ids(message, extra)
            await send(message)

        await self.app(scope, receive, send_with_id)


def with_request_ids(start: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    """The ``http.response.start`` message ``start`` with the request-id headers ``extra`` (from
    :func:`request_id_headers`) added; ``x-request-id`` is not added again when the response
    already has one (the router's id)."""
    headers = list(start.get("headers", []))
    headers += extra[1:] if any(k == b"x-request-id" for k, _ in headers) else extra
    return {**start, "headers": headers}


def request_id_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Give the request of ``scope`` a new id (``scope["state"]["request_id"]``); the response
    headers that go with it: ``x-request-id`` first, then ``x-client-request-id`` when the client
    sent a tame X-Request-Id (see :class:`RequestIdMiddleware`)."""
    given = b""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value
            break
    rid = new_request_id()
    scope.setdefault("state", {})["request_id"] = rid
    extra = [(b"x-request-id", rid.encode())]
    if given and REQUEST_ID_PATTERN.fullmatch(given.decode("latin-1")):
        extra.append((b"x-client-request-id", given))
    return extra


def request_id(request: Request) -> str:
    """The id RequestIdMiddleware gave ``request``."""
    return str(request.state.request_id)


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    """``error`` as OpenAI's error body with its status and headers."""
    return JSONResponse(
        error.body(), status_code=error.http_status, headers={**error.headers(), **(headers or {})}
    )


async def http_exception(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405) in OpenAI's error shape."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 404:
        message = f"Unknown request URL: {request.method} {path}. Please check the URL for typos."
        code = "unknown_url"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {path}."
        code = "method_not_allowed"
    else:
        message, code = exc.detail, None
    error = GatewayError(
        message, code=code, http_status=exc.status_code, error_type="invalid_request_error"
    )
    return error_response(error, dict(exc.headers or {}))


async def read_json(request: Request, limit: int, setting: str = "") -> Any:
    """The request body decoded as JSON; 413 beyond ``limit`` bytes (the message names
    ``setting``, the config key of the limit, when there is one), 400 when not JSON.

    A 413 is answered before the body is read; the connection then reads and drops the rest
    (:mod:`gateway.limits`), so the client sees the 413. A Content-Length more than
    :data:`~gateway.limits.DRAIN_BYTES` past the limit is answered with ``Connection: close``.
    """
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(limit, setting, int(length), close=int(length) - limit > DRAIN_BYTES)
    body = bytearray()  # grows in place (amortized): linear in the body, however many chunks
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            body += chunk
            if len(body) > limit:  # chunked bodies have no Content-Length to check
                raise too_large(limit, setting)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            None,
            code="invalid_json",
        ) from None


def too_large(
    limit: int, setting: str = "", size: int | None = None, *, close: bool = False
) -> BodyTooLarge:
    """The 413 for a body over ``limit`` bytes (``size`` when its length is known), naming the
    config key ``setting`` and its environment variable when the limit is configurable;
    ``close`` adds ``Connection: close``."""
    said = f"{size} bytes, more than" if size is not None else "more than"
    message = f"Request body too large: {said} the limit of {describe_bytes(limit)}."
    if setting:
        section, _, key = setting.partition(".")
        message += (
            f" The limit is set by {setting} (environment variable "
            f"LLMROUTER_{section.upper()}_{key.upper()})."
        )
    return BodyTooLarge(message, code="request_too_large", close=close)
