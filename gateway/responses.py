"""The OpenAI Responses API front door: ``POST /v1/responses`` (JSON or SSE), the stateless
subset, served by the same RouterService calls as chat completions.

Requests are translated by :mod:`gateway.translate.responses_request` (input items by
:mod:`gateway.translate.responses_items`), answers by :mod:`gateway.translate.responses_response`.
Errors before a stream starts are OpenAI's error responses, as on chat completions (the route's
guard in :mod:`gateway.routes`); a failure after it is a ``response.failed`` event, which ends
the stream (API reference, "Streaming events": ``response.failed``).
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
from gateway.rate_limit import Admission
from gateway.resume import ResumableStream
from gateway.streaming import SSEResponse, until_disconnect
from gateway.translate.responses_request import ParsedResponses, parse_responses_request
from gateway.translate.responses_response import (
    ResponseEvents,
    response_headers,
    response_json,
)
from gateway.web import JSONResponse, read_json

__all__ = ["ResponsesEndpoints"]

logger = logging.getLogger(__name__)


class ResponsesEndpoints(DoorEndpoints):
    """``/v1/responses``."""

    async def responses(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/responses``: one ``response`` as JSON, or its stream of events."""
        parsed = parse_responses_request(
            await read_json(request, self._config.max_body_bytes, "gateway.max_body_bytes"),
            client_request_id=ctx.client_request_id,
            source=request.headers.get("x-llmrouter-source"),
            api_key_id=ctx.api_key_id,
            team_id=ctx.team_id,
            cache=request.headers.get("x-llmrouter-cache"),
        )
        self._bind(ctx, parsed.chat.caller)
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
        headers = response_headers(response)
        if admission is not None:
            admission.settle(response.usage.prompt_tokens + response.usage.completion_tokens)
            headers.update(admission.headers())
        return JSONResponse(response_json(response, parsed.echo), headers=headers)

    async def _stream(
        self,
        request: Request,
        parsed: ParsedResponses,
        ctx: RequestContext,
        admission: Admission | None,
    ) -> Response:
        events = ResponseEvents(
            request_id=ctx.request_id, model=parsed.chat.model, echo=parsed.echo
        )
        call = ResumableStream(self._upstreams().router, parsed.chat, events, ctx.timeout_s)
        # Errors until the StreamStart are ordinary HTTP errors (OpenAI answers a bad request
        # with a status, not a stream).
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
            _relay(call, events, initial, admission), cancel=call.cancel, headers=headers
        )


async def _relay(
    call: ResumableStream,
    events: ResponseEvents,
    initial: bytes,
    admission: Admission | None,
) -> AsyncIterator[bytes]:
    """The stream's events; a failure becomes a ``response.failed`` event and the stream ends
    there."""
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
        yield events.failed(from_rpc_error(exc))
        return
    except Exception:
        logger.exception("stream translation failed")
        yield events.failed(GatewayError(GENERIC_MESSAGE))
        return
    if not events.finished:
        yield events.failed(GatewayError("The router ended the stream before it was complete."))
        return
    if admission is not None:
        admission.settle(events.used_tokens)
    await drain(call)
