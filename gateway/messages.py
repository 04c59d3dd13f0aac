"""The Anthropic Messages API front door: ``POST /v1/messages`` (JSON or SSE) and ``POST
/v1/messages/count_tokens``, served by the same RouterService calls as chat completions.

Requests are translated by :mod:`gateway.translate.messages_request`, answers by
:mod:`gateway.translate.messages_response`; every error is in Anthropic's shape
(:mod:`gateway.messages_errors`, applied by the route's guard in :mod:`gateway.routes`).
``count_tokens`` asks the router's ``Route`` (no upstream call) and answers its
``estimated_prompt_tokens``: the estimate the router itself checks context windows with.
"""

from __future__ import annotations

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.context import RequestContext
from gateway.doors import DoorEndpoints
from gateway.errors import GatewayError
from gateway.messages_errors import anthropic_error
from gateway.streaming import until_disconnect
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
        """``POST /v1/messages``: one ``message`` as JSON, or its stream of events (a failure
        after the stream began is an ``error`` event, and the stream ends there with no
        message_stop, as Anthropic's streams end on an error)."""
        parsed = await self._parse(request, ctx)
        admission = await self._admit(ctx, parsed.chat)  # 429 before the router is asked
        if parsed.stream:
            events = MessageEvents(request_id=ctx.request_id, model=parsed.chat.model)

            def failed(error: GatewayError) -> bytes:
                return sse(anthropic_error(error, ctx.request_id))

            return await self._stream(request, ctx, parsed.parsed, events, admission, failed)
        response, headers = await self._complete(request, ctx, parsed.parsed, admission)
        return JSONResponse(
            message_json(response), headers={**message_headers(response), **headers}
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
