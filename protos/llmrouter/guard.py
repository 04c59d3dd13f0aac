"""What a gRPC caller sees when a request cannot be decoded or a handler fails unexpectedly.

Left to itself, grpcio answers an undecodable request with UNKNOWN and an unexpected exception
with UNKNOWN plus the exception's text, which can quote the request (a prompt) or our
internals. :class:`GuardInterceptor` decodes requests itself, so a corrupt message gets
INVALID_ARGUMENT, and turns any exception that escapes a handler into INTERNAL with a generic
message (the details go to the log only).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

__all__ = ["GENERIC_MESSAGE", "GuardInterceptor"]

log = logging.getLogger(__name__)

GENERIC_MESSAGE = "internal error"
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]
Context = grpc.aio.ServicerContext[Any, Any]

# Errors that already are a status (abort) or a cancellation: let them through.
_PASS_THROUGH = (grpc.aio.AbortError,)


def _identity(data: bytes) -> bytes:
    return data


async def _decode(decode: Callable[[bytes], Any] | None, data: bytes, context: Context) -> Any:
    if decode is None:
        return data
    try:
        return decode(data)
    except Exception:  # DecodeError, or anything a custom deserializer raises
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request message is malformed")


async def _fail(method: str, context: Context) -> None:
    log.exception("unexpected error in %s", method)
    await context.abort(grpc.StatusCode.INTERNAL, GENERIC_MESSAGE)


class GuardInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """INVALID_ARGUMENT for undecodable requests; INTERNAL without details for crashes."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler: Any = await continuation(details)
        if handler is None:
            return None
        method: str = details.method
        decode = handler.request_deserializer
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def unary_unary(data: bytes, context: Context) -> Any:
                request = await _decode(decode, data, context)
                try:
                    return await unary(request, context)
                except _PASS_THROUGH:
                    raise
                except Exception:
                    await _fail(method, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=_identity,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            streaming = handler.unary_stream

            async def unary_stream(data: bytes, context: Context) -> AsyncIterator[Any]:
                request = await _decode(decode, data, context)
                try:
                    async for item in streaming(request, context):
                        yield item
                except _PASS_THROUGH:
                    raise
                except Exception:
                    await _fail(method, context)

            async def unary_writes(data: bytes, context: Context) -> None:
                # Handlers that stream with context.write() (the health service's Watch).
                request = await _decode(decode, data, context)
                try:
                    await streaming(request, context)
                except _PASS_THROUGH:
                    raise
                except Exception:
                    await _fail(method, context)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream if inspect.isasyncgenfunction(streaming) else unary_writes,
                request_deserializer=_identity,
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming methods: none of ours
