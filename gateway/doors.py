"""What every front door's endpoints share (chat completions, Messages, Responses,
embeddings): the gRPC upstreams, the keys' rate limits, and how a finished stream's call is
let end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc

from gateway.channels import Upstreams
from gateway.config import GatewayConfig
from gateway.context import RequestContext
from gateway.rate_limit import Admission, KeyLimits
from llmrouter.v1 import chat_pb2

__all__ = ["DRAIN_S", "EOF", "DoorEndpoints", "drain"]

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
