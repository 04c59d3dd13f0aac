"""The OpenAI Responses API front door: ``POST /v1/responses`` (JSON or SSE), the stateless
subset, served by the same RouterService calls as chat completions.

Requests are translated by :mod:`gateway.translate.responses_request` (input items by
:mod:`gateway.translate.responses_items`), answers by :mod:`gateway.translate.responses_response`.
Errors before a stream starts are OpenAI's error responses, as on chat completions (the route's
guard in :mod:`gateway.routes`); a failure after it is a ``response.failed`` event, which ends
the stream (API reference, "Streaming events": ``response.failed``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.context import RequestContext
from gateway.doors import DoorEndpoints
from gateway.translate.responses_request import parse_responses_request
from gateway.translate.responses_response import (
    ResponseEvents,
    response_headers,
    response_json,
)
from gateway.web import JSONResponse, read_json

__all__ = ["ResponsesEndpoints"]


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
            events = ResponseEvents(
                request_id=ctx.request_id, model=parsed.chat.model, echo=parsed.echo
            )
            return await self._stream(request, ctx, parsed.parsed, events, admission, events.failed)
        response, headers = await self._complete(request, ctx, parsed.parsed, admission)
        return JSONResponse(
            response_json(response, parsed.echo), headers={**response_headers(response), **headers}
        )
