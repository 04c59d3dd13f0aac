"""``llmrouter.v1.RouterService`` over the routing engine."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import grpc

from llmrouter.serving import abort
from llmrouter.sizes import DEFAULT_MAX_RESPONSE_BYTES
from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

from .chat import ChatRequest, StreamDelta
from .convert import (
    attempts_to_proto,
    chat_from_proto,
    decision_to_proto,
    finish_reason,
    timestamp,
    tool_call_deltas,
)
from .errors import ResponseTooLarge, RouterError, to_rpc_status
from .registry import Registry
from .routing.failover import Engine, StreamStarted, StreamSummary
from .routing.policy import Policy

__all__ = ["SERVICE_NAME", "RouterServicer"]

SERVICE_NAME = router_service_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext[Any, Any]


class RouterServicer(router_service_pb2_grpc.RouterServiceServicer):
    """Validates requests, delegates to the engine and reports errors as rich statuses."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        engine: Engine,
        default_deadline_s: float,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._registry = registry
        self._policy = policy
        self._engine = engine
        self._default_deadline = default_deadline_s
        # The server's send limit: measured here so the router knows (and says) when an answer
        # cannot be sent, instead of gRPC dropping it after the handler returned.
        self._max_response_bytes = max_response_bytes

    async def _check_size(self, message: Any, request_id: str, context: Context) -> None:
        """Abort with RESPONSE_TOO_LARGE when ``message`` exceeds the send limit."""
        size = message.ByteSize()
        if size <= self._max_response_bytes:
            return
        log.warning(
            "answer to request %s not sent: %d bytes, max_response_bytes is %d "
            "(served and recorded upstream; not retried)",
            request_id,
            size,
            self._max_response_bytes,
        )
        error = ResponseTooLarge(
            f"The answer is too large to send: {size} bytes, at most "
            f"{self._max_response_bytes} allowed.",
            metadata={"size_bytes": str(size), "max_bytes": str(self._max_response_bytes)},
        )
        await abort(context, to_rpc_status(error))

    def _deadline(self, context: Context) -> float:
        remaining = context.time_remaining()
        budget = (
            self._default_deadline if remaining is None else min(remaining, self._default_deadline)
        )
        return time.monotonic() + budget

    async def Route(
        self, request: router_service_pb2.RouteRequest, context: Context
    ) -> router_service_pb2.RouteResponse:
        try:
            chat = chat_from_proto(request.chat)
            return decision_to_proto(await self._policy.decide(chat))
        except RouterError as exc:
            await abort(context, to_rpc_status(exc))

    async def Complete(
        self,
        request: router_service_pb2.CompleteRequest,
        context: Context,
    ) -> router_service_pb2.CompleteResponse:
        try:
            chat = chat_from_proto(request.chat)
            served = await self._engine.complete(chat, self._deadline(context))
        except RouterError as exc:
            await abort(context, to_rpc_status(exc))
        completion = served.completion
        response = router_service_pb2.CompleteResponse(
            id=served.request_id,
            model=served.entry.name,
            provider=served.entry.provider.name,
            message=chat_pb2.Message(
                role=chat_pb2.ROLE_ASSISTANT,
                content=completion.content,
                tool_calls=[
                    chat_pb2.ToolCall(id=c.id, name=c.name, arguments=c.arguments)
                    for c in completion.tool_calls
                ],
            ),
            finish_reason=finish_reason(completion.finish_reason),
            usage=chat_pb2.Usage(
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                total_tokens=completion.usage.total_tokens,
                cost_usd=served.cost_usd,
            ),
            attempts=attempts_to_proto(served.attempts),
            category=served.decision.category,
            create_time=timestamp(served.create_time),
            fallback=served.fallback,
            trace_id=served.trace_id,
        )
        await self._check_size(response, served.request_id, context)
        return response

    async def StreamComplete(
        self,
        request: router_service_pb2.StreamCompleteRequest,
        context: Context,
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        try:
            chat: ChatRequest = chat_from_proto(request.chat)
            request_id = ""
            # Closed here when the call ends early (an answer too large, the caller gone): the
            # attempt is cancelled and its upstream stream closed within the call, not later
            # by the event loop's finalizer for an abandoned generator.
            async with aclosing(self._engine.stream(chat, self._deadline(context))) as events:
                async for event in events:
                    if isinstance(event, StreamStarted):
                        request_id = event.request_id
                    chunk = _chunk(event)
                    await self._check_size(chunk, request_id, context)
                    yield chunk
        except RouterError as exc:
            await abort(context, to_rpc_status(exc))

    async def ListModels(
        self,
        request: router_service_pb2.ListModelsRequest,
        context: Context,
    ) -> router_service_pb2.ListModelsResponse:
        return router_service_pb2.ListModelsResponse(
            models=[
                router_service_pb2.ModelInfo(
                    name=e.name,
                    provider=e.provider.name,
                    upstream_model=e.upstream_model,
                    capabilities=router_service_pb2.Capabilities(
                        tools=e.config.tools, vision=e.config.vision, json_mode=e.config.json_mode
                    ),
                    context_window=e.config.context_window,
                    input_price_per_million=e.input_price_per_million,
                    output_price_per_million=e.output_price_per_million,
                    quality=e.config.quality,
                    enabled=e.enabled,
                    priority=e.config.priority,
                    local=e.provider.local,
                    aliases=list(e.config.aliases),
                )
                for e in self._registry.entries()
            ]
        )


def _chunk(
    event: StreamStarted | StreamDelta | StreamSummary,
) -> router_service_pb2.StreamCompleteResponse:
    if isinstance(event, StreamDelta):
        return router_service_pb2.StreamCompleteResponse(
            delta=router_service_pb2.StreamDelta(
                content=event.content, tool_calls=tool_call_deltas(event.tool_calls)
            )
        )
    if isinstance(event, StreamStarted):
        return router_service_pb2.StreamCompleteResponse(
            start=router_service_pb2.StreamStart(
                id=event.request_id,
                model=event.entry.name,
                provider=event.entry.provider.name,
                category=event.category,
                create_time=timestamp(event.create_time),
                attempt_count=event.attempt_count,
                fallback=event.fallback,
                trace_id=event.trace_id,
            )
        )
    return router_service_pb2.StreamCompleteResponse(
        summary=router_service_pb2.StreamSummary(
            model=event.entry.name,
            provider=event.entry.provider.name,
            finish_reason=finish_reason(event.finish_reason),
            usage=chat_pb2.Usage(
                prompt_tokens=event.usage.prompt_tokens,
                completion_tokens=event.usage.completion_tokens,
                total_tokens=event.usage.total_tokens,
                cost_usd=event.cost_usd,
            ),
            attempts=attempts_to_proto(event.attempts),
            fallback=event.fallback,
        )
    )
