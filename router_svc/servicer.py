"""``llmrouter.v1.RouterService`` over the routing engine."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from functools import partial
from typing import Any

import grpc

from llmrouter.serving import abort
from llmrouter.sizes import DEFAULT_MAX_RESPONSE_BYTES
from llmrouter.v1 import router_service_pb2, router_service_pb2_grpc

from .budgets import Budgets
from .cache.serving import CachingEngine
from .chat import ChatRequest
from .coalesce import BEHIND_S, batches
from .errors import InvalidRequest, ReportedAsStatus, ResponseTooLarge, RouterError, to_rpc_status
from .evaluation.sampler import SamplingEngine
from .public_errors import PublicErrors
from .quotas import ModelQuotas, reserved_tokens
from .registry import Registry
from .routing.balance import preview
from .routing.embed import Embedder
from .routing.failover import Engine, StreamStarted
from .routing.policy import Policy
from .translate import (
    chat_from_proto,
    complete_response,
    decision_to_proto,
    embed_from_proto,
    embed_response,
    list_models_response,
    stream_chunks,
)

__all__ = ["SERVICE_NAME", "RouterServicer"]

SERVICE_NAME = router_service_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext[Any, Any]
#: Told of each Complete / StreamComplete that ended: (api_key_id, ok, latency_s). Called on
#: the request path: must not block (router_svc.alerts.Alerter.request_finished queues).
Finished = Callable[[str, bool, float], None]
# Ends that are the caller's doing, not a failure of the key's traffic: not reported.
_CALLER_FAULTS = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND})


class RouterServicer(router_service_pb2_grpc.RouterServiceServicer):
    """Validates requests, delegates to the engine and reports errors as rich statuses."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        engine: Engine | CachingEngine | SamplingEngine,
        default_deadline_s: float,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        public_errors: PublicErrors | None = None,
        quotas: ModelQuotas | None = None,
        finished: Finished | None = None,
        spend: Budgets | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """``quotas``: the models' rpm / tpm quotas; ``Route`` lists a model whose quota is
        used up as skipped. ``finished``: told how each answer ended (:data:`Finished`).
        ``embedder``: serves ``Embed`` (None: UNIMPLEMENTED)."""
        self._embedder = embedder
        self._quotas = quotas
        self._finished = finished
        # The key and team budgets: Route lists a model no budget has room for as skipped.
        self._spend = spend
        self._registry = registry
        # Error messages as callers read them (None: as they are); see router_svc.public_errors.
        self._public = public_errors
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

    def _report(self, api_key_id: str, started: float, error: BaseException | None) -> None:
        """Tell ``finished`` how a request ended: answered, or failed for a reason other than
        the caller's own (an invalid request, an unknown model) or the caller leaving."""
        if self._finished is None:
            return
        if isinstance(error, RouterError) and error.code in _CALLER_FAULTS:
            return
        if isinstance(error, asyncio.CancelledError | GeneratorExit):
            return
        self._finished(api_key_id, error is None, time.monotonic() - started)

    def _fits(self, message: Any) -> bool:
        return bool(message.ByteSize() <= self._max_response_bytes)

    def _deadline(self, context: Context) -> float:
        remaining = context.time_remaining()
        budget = (
            self._default_deadline if remaining is None else min(remaining, self._default_deadline)
        )
        return time.monotonic() + budget

    async def Route(
        self, request: router_service_pb2.RouteRequest, context: Context
    ) -> router_service_pb2.RouteResponse:
        async with ReportedAsStatus(context, self._public):
            chat = chat_from_proto(request.chat)
            decision = await self._policy.decide(chat)
            if self._quotas is not None:
                decision = await self._quotas.annotate(decision, reserved_tokens(decision, chat))
            if self._spend is not None:
                decision = await self._spend.annotate(decision, chat)
            return decision_to_proto(preview(decision))

    async def Complete(
        self,
        request: router_service_pb2.CompleteRequest,
        context: Context,
    ) -> router_service_pb2.CompleteResponse:
        started = time.monotonic()
        async with ReportedAsStatus(context, self._public):
            chat = chat_from_proto(request.chat)
            if chat.prefill:
                raise InvalidRequest(
                    "continue_final_message is for StreamComplete only",
                    field="chat.continue_final_message",
                )
            # Response headers go out the moment an upstream answer is accepted, before its
            # usage is recorded: they commit the call (gRFC A6), so a client's retry policy
            # never sends an answer that may be billed here to another replica.
            try:
                served = await self._engine.complete(
                    chat, self._deadline(context), partial(context.send_initial_metadata, ())
                )
            except BaseException as exc:
                self._report(chat.api_key_id, started, exc)
                raise
            self._report(chat.api_key_id, started, None)
        response = complete_response(served)
        if response.ByteSize() > self._max_response_bytes:  # no coroutine for an answer that fits
            await self._check_size(response, served.request_id, context)
        return response

    async def StreamComplete(
        self,
        request: router_service_pb2.StreamCompleteRequest,
        context: Context,
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        started = time.monotonic()
        async with ReportedAsStatus(context, self._public):
            chat: ChatRequest = chat_from_proto(request.chat)
            request_id = ""
            # The first chunk (sent when the first content is relayed) carries the headers and
            # commits the call; the usage of the attempt that produced it is recorded later.
            # Closed here when the call ends early (an answer too large, the caller gone): the
            # attempt is cancelled and its upstream stream closed within the call, not later
            # by the event loop's finalizer for an abandoned generator.
            # Once the router falls behind, the engine runs in a task of its own and what it
            # relays while a message is being sent goes out together, as one delta_batch to a
            # caller that accepts them (router_svc.coalesce); nothing is held back for company.
            # Other callers get one delta per message: reading ahead would buy them nothing.
            events = self._engine.stream(chat, self._deadline(context))
            batched = request.accepts_delta_batches
            behind_s = BEHIND_S if batched else math.inf
            try:
                async with aclosing(batches(events, behind_s=behind_s)) as relayed:
                    async for ready in relayed:
                        if request_id == "" and isinstance(ready[0], StreamStarted):
                            request_id = ready[0].request_id
                        for chunk in stream_chunks(ready, batched):
                            if chunk.HasField("delta_batch") and not self._fits(chunk):
                                # Each delta alone fits (or is refused alone, as unbatched).
                                for delta in chunk.delta_batch.deltas:
                                    single = router_service_pb2.StreamCompleteResponse(delta=delta)
                                    await self._check_size(single, request_id, context)
                                    yield single
                                continue
                            await self._check_size(chunk, request_id, context)
                            yield chunk
            except BaseException as exc:
                self._report(chat.api_key_id, started, exc)
                raise
            self._report(chat.api_key_id, started, None)

    async def Embed(
        self,
        request: router_service_pb2.EmbedRequest,
        context: Context,
    ) -> router_service_pb2.EmbedResponse:
        if self._embedder is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this router serves no embeddings")
            raise AssertionError("unreachable")  # abort raises
        started = time.monotonic()
        async with ReportedAsStatus(context, self._public):
            embed = embed_from_proto(request)
            # Headers commit the call once every upstream call answered (as Complete's).
            try:
                served = await self._embedder.embed(
                    embed, self._deadline(context), partial(context.send_initial_metadata, ())
                )
            except BaseException as exc:
                self._report(embed.api_key_id, started, exc)
                raise
            self._report(embed.api_key_id, started, None)
        response = embed_response(served)
        if response.ByteSize() > self._max_response_bytes:
            await self._check_size(response, served.request_id, context)
        return response

    async def ListModels(
        self,
        request: router_service_pb2.ListModelsRequest,
        context: Context,
    ) -> router_service_pb2.ListModelsResponse:
        return list_models_response(
            self._registry.entries(), self._policy.categories, self._policy.default_chain
        )
