"""The endpoints served by RouterService: chat completions (JSON or SSE), route, models."""

from __future__ import annotations

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway import translate
from gateway.context import RequestContext
from gateway.doors import DoorEndpoints
from gateway.errors import GatewayError
from gateway.streaming import DONE_EVENT, sse_event, until_disconnect
from gateway.web import JSONResponse, read_json
from llmrouter.v1 import router_service_pb2

__all__ = ["RouterEndpoints"]


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
        """``POST /v1/chat/completions``: one completion as JSON, or a stream of SSE chunks
        (a failure after the stream began is an error chunk, and no ``[DONE]`` follows)."""
        parsed = await self._parse(request, ctx)
        admission = await self._admit(ctx, parsed.chat)  # 429 before the router is asked
        if parsed.stream:
            chunks = translate.ChunkStream(
                request_id=ctx.request_id, model=parsed.model, include_usage=parsed.include_usage
            )
            return await self._stream(
                request, ctx, parsed, chunks, admission, _error_chunk, DONE_EVENT
            )
        response, headers = await self._complete(request, ctx, parsed, admission)
        return JSONResponse(
            translate.completion(response),
            headers={**translate.completion_headers(response), **headers},
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
        listed = await until_disconnect(request.receive, call, call.cancel)
        return translate.allowed_only(listed, ctx.allowed_models)

    async def models(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/models``: ``auto``, the categories and every model (gateway.translate.
        models); a key restricted to some models sees only those."""
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


def _error_chunk(error: GatewayError) -> bytes:
    """A failure after the stream began: an SSE event carrying the error body."""
    return sse_event(error.body())
