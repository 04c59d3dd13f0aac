"""The gateway's ASGI app: Starlette, with its API routes of fixed path served directly.

Starlette serves a request through its error middleware, our request-id and Prometheus
middlewares, its exception middleware, its router (each route's path matched in turn) and a
wrapper per endpoint: about as much CPU as the endpoint itself on ``/v1/chat/completions``.
:class:`GatewayApp` serves a request whose method and path name one of the ``direct`` routes
(exactly: no ``root_path``, no trailing slash) in one function that does what that stack does
for it, with the same result: the ``x-request-id`` and ``x-client-request-id`` headers
(:func:`gateway.web.request_id_headers`), the Prometheus counters, and Starlette's plain 500
when an exception escapes the endpoint. Every other request (other paths, other methods, and
every request while tracing is on) goes through the whole Starlette stack.

Direct endpoints must turn their own errors into responses (``routes._guarded``): Starlette's
exception handlers do not run for them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from gateway.observability import GatewayMetrics
from gateway.web import request_id_headers, with_request_ids

__all__ = ["DirectHandler", "GatewayApp"]

# An endpoint that answers every failure itself (see routes._guarded).
DirectHandler = Callable[[Request], Awaitable[Response]]


class GatewayApp(Starlette):
    """Starlette plus a table of ``(method, path) -> handler`` served without its stack."""

    def __init__(
        self,
        *,
        direct: Mapping[tuple[str, str], DirectHandler],
        metrics: GatewayMetrics,
        labels: Mapping[str, str],
        **kwargs: Any,
    ) -> None:
        """``labels``: route template -> metric label (gateway.front_doors.route_labels)."""
        super().__init__(**kwargs)
        self._direct = dict(direct)
        self._metrics = metrics
        self._labels = dict(labels)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a direct route here, anything else through Starlette."""
        if scope["type"] == "http" and not scope.get("root_path"):
            handler = self._direct.get((scope["method"], scope["path"]))
            if handler is not None:
                await self._serve(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve(
        self, handler: DirectHandler, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        label = self._labels.get(path, path)
        method: str = scope["method"]
        metrics = self._metrics
        extra = request_id_headers(scope)
        response_started = False

        async def send_counted(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                metrics.observe(label, method, message["status"], time.perf_counter() - started)
                message = with_request_ids(message, extra)
            await send(message)

        scope["app"] = self  # as Starlette sets it, for request.app
        try:
            response = await handler(Request(scope, receive, send_counted))
            await response(scope, receive, send_counted)
        except Exception:
            # What Starlette's ServerErrorMiddleware does: a bare 500 on the server's own send
            # (no request id, not counted), and the exception on to the server's log.
            if not response_started:
                await PlainTextResponse("Internal Server Error", status_code=500)(
                    scope, receive, send
                )
            raise
