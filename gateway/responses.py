"""The OpenAI Responses API front door: ``POST /v1/responses`` (JSON or SSE), the stateless
subset, served by the same RouterService calls as chat completions.

Requests are translated by :mod:`gateway.translate.responses_request` (input items by
:mod:`gateway.translate.responses_items`), answers by :mod:`gateway.translate.responses_response`.
Errors before a stream starts are OpenAI's error responses, as on chat completions (the route's
guard in :mod:`gateway.routes`); a failure after it is a ``response.failed`` event, which ends
the stream (API reference, "Streaming events": ``response.failed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.channels import Upstreams
from gateway.config import GatewayConfig
from gateway.context import RequestContext
from gateway.errors import GENERIC_MESSAGE, GatewayError, from_rpc_error
from gateway.rate_limit import Admission, KeyLimits
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

# The end-of-stream marker of ``call.read()`` (missing from grpc-stubs).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]
# Seconds the router gets to end its stream after the summary.
_DRAIN_S = 1.0


class ResponsesEndpoints:
    """``/v1/responses``."""

    def __init__(
        self,
        config: GatewayConfig,
        upstreams: Callable[[], Upstreams],
        limits: KeyLimits | None = None,
    ) -> None:
        """``limits``: the keys' rate limits, as on chat completions (None: none)."""
        self._config = config
        self._upstreams = upstreams
        self._limits = limits

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
        admission = None
        if self._limits is not None:  # 429 before the router is asked
            admission = await self._limits.admit(
                ctx.api_key_id, parsed.chat, own=(ctx.rpm_limit, ctx.tpm_limit)
            )
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
        if first is _EOF:
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
            if message is _EOF:
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
    # Let the call end on its own (see gateway.chat): cancelling right after the summary could
    # make the router record a served request as cancelled.
    try:
        async with asyncio.timeout(_DRAIN_S):
            while await call.read() is not _EOF:
                pass
    except (grpc.aio.AioRpcError, TimeoutError):
        call.cancel()
