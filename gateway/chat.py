"""The endpoints served by RouterService: chat completions (JSON or SSE), route, models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway import translate
from gateway.context import RequestContext
from gateway.doors import EOF, DoorEndpoints, drain
from gateway.errors import GENERIC_MESSAGE, GatewayError, from_rpc_error
from gateway.rate_limit import Admission
from gateway.resume import ResumableStream
from gateway.streaming import DONE_EVENT, SSEResponse, sse_event, until_disconnect
from gateway.web import JSONResponse, read_json
from llmrouter.v1 import router_service_pb2

__all__ = ["RouterEndpoints"]

logger = logging.getLogger(__name__)


class RouterEndpoints(DoorEndpoints):
    """``/v1/chat/completions``, ``/v1/route``, ``/v1/models`` and ``/v1/models/{model}``."""

    async def _parse(self, request: Request, ctx: RequestContext) -> translate.ParsedRequest:
        parsed = translate.parse_chat_request(
            await read_json(request, self._config.max_body_bytes, "gateway.max_body_bytes"),
            client_request_id=ctx.client_request_id,
            source=request.headers.get("x-llmrouter-source"),
            api_key_id=ctx.api_key_id,
            team_id=ctx.team_id,
            cache=request.headers.get("x-llmrouter-cache"),
        )
        self._bind(ctx, parsed.chat.caller)
        return parsed

    async def chat_completions(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/chat/completions``: one completion as JSON, or a stream of SSE chunks."""
        parsed = await self._parse(request, ctx)
        admission = await self._admit(ctx, parsed.chat)  # 429 before the router is asked
        if parsed.stream:
            return await self._stream(request, parsed, ctx, admission)
        call = self._upstreams().router.Complete(parsed.complete_request(), timeout=ctx.timeout_s)
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.router_error(exc) from exc
        headers = translate.completion_headers(response)
        if admission is not None:
            admission.settle(response.usage.prompt_tokens + response.usage.completion_tokens)
            headers.update(admission.headers())
        return JSONResponse(translate.completion(response), headers=headers)

    async def _stream(
        self,
        request: Request,
        parsed: translate.ParsedRequest,
        ctx: RequestContext,
        admission: Admission | None,
    ) -> Response:
        chunks = translate.ChunkStream(
            request_id=ctx.request_id, model=parsed.model, include_usage=parsed.include_usage
        )
        # Read through ResumableStream: a router replica that dies mid-stream is replaced.
        call = ResumableStream(self._upstreams().router, parsed.chat, chunks, ctx.timeout_s)
        # Wait for StreamStart so the headers can name the model that will answer; errors
        # until then are ordinary HTTP errors.
        try:
            first = await until_disconnect(request.receive, call.read(), call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.router_error(exc) from exc
        if first is EOF:
            raise GatewayError("The router ended the stream without an answer.", http_status=502)
        try:
            initial = chunks.feed(first)
            headers = chunks.headers()
            if admission is not None:
                headers.update(admission.headers())
        except BaseException:
            call.cancel()
            raise
        return SSEResponse(
            _events(call, chunks, initial, admission), cancel=call.cancel, headers=headers
        )

    async def route(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/route``: the router's decision for a chat request, without serving it."""
        parsed = await self._parse(request, ctx)
        call = self._upstreams().router.Route(parsed.route_request(), timeout=ctx.timeout_s)
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.router_error(exc) from exc
        return JSONResponse(translate.route_json(response))

    async def _list_models(
        self, request: Request, ctx: RequestContext
    ) -> router_service_pb2.ListModelsResponse:
        call = self._upstreams().router.ListModels(
            translate.list_models_request(), timeout=ctx.timeout_s
        )
        return await until_disconnect(request.receive, call, call.cancel)

    async def models(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/models``: ``auto``, the categories and every model (gateway.translate.
        models)."""
        return JSONResponse(translate.models_list(await self._list_models(request, ctx)))

    async def model(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/models/{model}``: one of ``/v1/models``' objects by id or alias; 404 as
        OpenAI's (``invalid_request_error``, code ``model_not_found``) for an unknown one."""
        name: str = request.path_params["model"]
        found = translate.model_json(await self._list_models(request, ctx), name)
        if found is None:
            raise GatewayError(
                f"The model '{name}' does not exist",
                http_status=404,
                error_type="invalid_request_error",
                param="model",
                code="model_not_found",
            )
        return JSONResponse(found)


async def _events(
    call: ResumableStream,
    chunks: translate.ChunkStream,
    initial: list[dict[str, Any]],
    admission: Admission | None,
) -> AsyncIterator[bytes]:
    """SSE events of one stream; failures become an error event and no ``[DONE]``. The
    summary's usage corrects the key's token reservation."""
    for chunk in initial:
        yield sse_event(chunk)
    try:
        while not chunks.finished:
            message = await call.read()
            if message is EOF:
                break
            events = chunks.sse(message)
            if events:
                yield events
    except grpc.aio.AioRpcError as exc:
        yield sse_event(from_rpc_error(exc).body())
        return
    except Exception:
        logger.exception("stream translation failed")
        yield sse_event(GatewayError(GENERIC_MESSAGE).body())
        return
    if not chunks.finished:
        error = GatewayError("The router ended the stream before it was complete.")
        yield sse_event(error.body())
        return
    if admission is not None and chunks.used_tokens is not None:
        admission.settle(chunks.used_tokens)
    yield DONE_EVENT
    await drain(call)
