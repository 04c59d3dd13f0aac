"""The Anthropic Messages API front door: ``POST /v1/messages`` (JSON or SSE) and ``POST
/v1/messages/count_tokens``, served by the same RouterService calls as chat completions.

Requests are translated by :mod:`gateway.translate.messages_request`, answers by
:mod:`gateway.translate.messages_response`; every error is in Anthropic's shape
(:mod:`gateway.messages_errors`, applied by the route's guard in :mod:`gateway.routes`).
``count_tokens`` asks the router's ``Route`` (no upstream call) and answers its
``estimated_prompt_tokens``: the estimate the router itself checks context windows with.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.context import RequestContext
from gateway.doors import EOF, DoorEndpoints, drain
from gateway.errors import GENERIC_MESSAGE, GatewayError, from_rpc_error
from gateway.messages_errors import anthropic_error
from gateway.rate_limit import Admission
from gateway.resume import ResumableStream
from gateway.streaming import SSEResponse, until_disconnect
from gateway.translate.messages_request import ParsedMessages, parse_messages_request
from gateway.translate.messages_response import (
    MessageEvents,
    message_headers,
    message_json,
    sse,
)
from gateway.web import JSONResponse, read_json
from llmrouter.v1 import router_service_pb2

__all__ = ["MessagesEndpoints"]

logger = logging.getLogger(__name__)


class MessagesEndpoints(DoorEndpoints):
    """``/v1/messages`` and ``/v1/messages/count_tokens``."""

    async def _parse(
        self, request: Request, ctx: RequestContext, *, count_only: bool = False
    ) -> ParsedMessages:
        parsed = parse_messages_request(
            await read_json(request, self._config.max_body_bytes, "gateway.max_body_bytes"),
            count_only=count_only,
            client_request_id=ctx.client_request_id,
            source=request.headers.get("x-llmrouter-source"),
            api_key_id=ctx.api_key_id,
            team_id=ctx.team_id,
            cache=request.headers.get("x-llmrouter-cache"),
        )
        self._bind(ctx, parsed.chat.caller)
        return parsed

    async def messages(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/messages``: one ``message`` as JSON, or its stream of events."""
        parsed = await self._parse(request, ctx)
        admission = await self._admit(ctx, parsed.chat)  # 429 before the router is asked
        if parsed.stream:
            return await self._stream(request, parsed, ctx, admission)
        call = self._upstreams().router.Complete(
            parsed.parsed.complete_request(), timeout=ctx.timeout_s
        )
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.parsed.router_error(exc) from exc
        headers = message_headers(response)
        if admission is not None:
            admission.settle(response.usage.prompt_tokens + response.usage.completion_tokens)
            headers.update(admission.headers())
        return JSONResponse(message_json(response), headers=headers)

    async def _stream(
        self,
        request: Request,
        parsed: ParsedMessages,
        ctx: RequestContext,
        admission: Admission | None,
    ) -> Response:
        events = MessageEvents(request_id=ctx.request_id, model=parsed.chat.model)
        call = ResumableStream(self._upstreams().router, parsed.chat, events, ctx.timeout_s)
        # Errors until the StreamStart are ordinary HTTP errors (as Anthropic's before its
        # message_start).
        try:
            first = await until_disconnect(request.receive, call.read(), call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.parsed.router_error(exc) from exc
        if first is EOF:
            raise GatewayError("The router ended the stream without an answer.", http_status=502)
        try:
            initial = events.sse(first)
            headers = events.headers()
            if admission is not None:
                headers.update(admission.headers())
        except BaseException:
            call.cancel()
            raise
        return SSEResponse(
            _relay(call, events, initial, admission, ctx.request_id),
            cancel=call.cancel,
            headers=headers,
        )

    async def count_tokens(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``, the router's estimate
        of the prompt's tokens for the request's model (``Route``: no upstream call)."""
        parsed = await self._parse(request, ctx, count_only=True)
        route = router_service_pb2.RouteRequest(chat=parsed.chat)
        call = self._upstreams().router.Route(route, timeout=ctx.timeout_s)
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.parsed.router_error(exc) from exc
        return JSONResponse({"input_tokens": response.estimated_prompt_tokens})


async def _relay(
    call: ResumableStream,
    events: MessageEvents,
    initial: bytes,
    admission: Admission | None,
    request_id: str,
) -> AsyncIterator[bytes]:
    """The stream's events; a failure becomes an ``error`` event, and the stream ends there
    (no message_stop), as Anthropic's streams end on an error."""
    if initial:
        yield initial
    try:
        while not events.finished:
            message = await call.read()
            if message is EOF:
                break
            if chunk := events.sse(message):
                yield chunk
    except grpc.aio.AioRpcError as exc:
        yield sse(anthropic_error(from_rpc_error(exc), request_id))
        return
    except Exception:
        logger.exception("stream translation failed")
        yield sse(anthropic_error(GatewayError(GENERIC_MESSAGE), request_id))
        return
    if not events.finished:
        error = GatewayError("The router ended the stream before it was complete.")
        yield sse(anthropic_error(error, request_id))
        return
    if admission is not None:
        admission.settle(events.used_tokens)
    await drain(call)
