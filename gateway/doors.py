"""What every front door's endpoints share (chat completions, Messages, Responses,
embeddings): the gRPC upstreams, the keys' rate limits, the router's ``Complete`` call, the
opening of a stream and its relay to the client, and how a finished stream's call is let end.

A door differs only in its translation: its request parser, its answer's JSON, its stream
translator (:class:`DoorStream`) and how it renders an error after its stream began (an error
chunk then no ``[DONE]`` on chat completions, Anthropic's ``error`` event on Messages,
``response.failed`` on Responses)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc
from starlette.requests import Request

from gateway.channels import Upstreams
from gateway.config import GatewayConfig
from gateway.context import RequestContext
from gateway.errors import GENERIC_MESSAGE, GatewayError, from_rpc_error
from gateway.rate_limit import Admission, KeyLimits
from gateway.resume import ResumableStream, StreamProgress
from gateway.streaming import SSEResponse, until_disconnect
from gateway.translate.chat_request import ParsedRequest
from llmrouter.v1 import chat_pb2, router_service_pb2

__all__ = ["DRAIN_S", "EOF", "DoorEndpoints", "DoorStream", "drain"]

logger = logging.getLogger(__name__)

#: The end-of-stream marker of ``call.read()`` (missing from grpc-stubs).
EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]
#: Seconds the router gets to end its stream after the summary.
DRAIN_S = 1.0


class DoorEndpoints:
    """Base of a front door's endpoints: ``config``, the ``upstreams`` (gRPC channels) and the
    keys' rate ``limits`` (None: none)."""

    def __init__(
        self,
        config: GatewayConfig,
        upstreams: Callable[[], Upstreams],
        limits: KeyLimits | None = None,
    ) -> None:
        self._config = config
        self._upstreams = upstreams
        self._limits = limits

    @staticmethod
    def _bind(ctx: RequestContext, caller: chat_pb2.Caller) -> None:
        """Put on the request's ``caller`` what the key may use (a virtual key's allowed models
        and categories): the router refuses or filters by them, on every door alike."""
        if ctx.allowed_models:
            caller.allowed_models.extend(ctx.allowed_models)

    async def _admit(self, ctx: RequestContext, chat: chat_pb2.ChatRequest) -> Admission | None:
        """Count ``chat`` against its key's limits (a virtual key's own, else the config's)
        before the router is asked; None when no limit applies. Raises RateLimitExceeded."""
        if self._limits is None:
            return None
        return await self._limits.admit(ctx.api_key_id, chat, own=(ctx.rpm_limit, ctx.tpm_limit))

    async def _complete(
        self,
        request: Request,
        ctx: RequestContext,
        parsed: ParsedRequest,
        admission: Admission | None,
    ) -> tuple[router_service_pb2.CompleteResponse, dict[str, str]]:
        """The router's ``Complete`` answer to ``parsed`` (cancelled when the client goes away)
        and the key's rate-limit headers, its token reservation settled to the answer's usage.
        Raises the door's UpstreamError (``parsed.router_error``) for a failed call."""
        call = self._upstreams().router.Complete(parsed.complete_request(), timeout=ctx.timeout_s)
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.router_error(exc) from exc
        if admission is None:
            return response, {}
        admission.settle(response.usage.prompt_tokens + response.usage.completion_tokens)
        return response, admission.headers()

    async def _stream(
        self,
        request: Request,
        ctx: RequestContext,
        parsed: ParsedRequest,
        events: DoorStream,
        admission: Admission | None,
        failed: Callable[[GatewayError], bytes],
        done: bytes = b"",
    ) -> SSEResponse:
        """Open the router's ``StreamComplete`` for ``parsed`` (resumed on another replica when
        its router dies: :class:`ResumableStream`) and answer its events as translated by
        ``events``. Until the StreamStart, errors are ordinary HTTP errors (the door's
        UpstreamError; 502 for a stream that ended without an answer); after it, ``failed``
        renders one as the door's last event. ``done`` ends a complete stream (chat's
        ``[DONE]``)."""
        call = ResumableStream(self._upstreams().router, parsed.chat, events, ctx.timeout_s)
        try:
            first = await until_disconnect(request.receive, call.read(), call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.router_error(exc) from exc
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
            _relay(call, events, initial, admission, failed, done),
            cancel=call.cancel,
            headers=headers,
        )


async def _relay(
    call: ResumableStream,
    events: DoorStream,
    initial: bytes,
    admission: Admission | None,
    failed: Callable[[GatewayError], bytes],
    done: bytes,
) -> AsyncIterator[bytes]:
    """The stream's events; a failure becomes the door's error event (``failed``) and the
    stream ends there. The summary's usage corrects the key's token reservation."""
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
        yield failed(from_rpc_error(exc))
        return
    except Exception:
        logger.exception("stream translation failed")
        yield failed(GatewayError(GENERIC_MESSAGE))
        return
    if not events.finished:
        yield failed(GatewayError("The router ended the stream before it was complete."))
        return
    if admission is not None and events.used_tokens is not None:
        admission.settle(events.used_tokens)
    if done:
        yield done
    await drain(call)


class DoorStream(StreamProgress, Protocol):
    """A door's stream translator (gateway.translate.ChunkStream, MessageEvents,
    ResponseEvents): fed every message of the router's stream, it gives the bytes to send."""

    def sse(self, message: router_service_pb2.StreamCompleteResponse) -> bytes:
        """The SSE events for one message of the router's stream (b"" when none)."""

    def headers(self) -> dict[str, str]:
        """The response headers, known once the StreamStart was fed."""

    @property
    def used_tokens(self) -> int | None:
        """Prompt plus completion tokens from the summary (None or 0 before it)."""


async def drain(call: Any) -> None:
    """Let a stream's call end on its own (read to EOF, at most :data:`DRAIN_S`): cancelling
    it right after the summary could make the router record a served request as cancelled. A
    router that lingers is cut off."""
    try:
        async with asyncio.timeout(DRAIN_S):
            while await call.read() is not EOF:
                pass
    except (grpc.aio.AioRpcError, TimeoutError):
        call.cancel()
