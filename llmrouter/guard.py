"""What a gRPC caller sees when a request cannot be decoded or a handler fails unexpectedly.

Left to itself, grpcio answers an undecodable request with UNKNOWN and an unexpected exception
with UNKNOWN plus the exception's text, which can quote the request (a prompt) or our
internals. :func:`guard` wraps every method handler (once, at registration, through
:class:`GuardedServer`) so that it decodes requests itself: a corrupt message gets
INVALID_ARGUMENT, and any exception that escapes a handler becomes INTERNAL with a generic
message (the details go to the log only).

A guard can also run an access check (:class:`llmrouter.access.Authorizer`) before decoding:
a call it refuses ends with the check's status and never reaches the handler, whatever the
method's kind (a kind it cannot check is refused at registration), and never opens a span
(:class:`GuardedServer` runs the check outside the tracing wrapper).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

__all__ = ["GENERIC_MESSAGE", "Check", "Context", "GuardedServer", "checked", "guard"]

log = logging.getLogger(__name__)

GENERIC_MESSAGE = "internal error"
#: The servicer context of every call on a ``grpc.aio`` server.
Context = grpc.aio.ServicerContext[Any, Any]
# (method, handler) -> handler: what a server applies to each method handler it registers.
Wrapper = Callable[[str, Any], Any]
#: Run before a method's handler: None lets the call in, a status ends it.
Check = Callable[[Context], grpc.Status | None]
# method -> its check (None: no check), asked once per method at registration.
Checks = Callable[[str], Check | None]

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


async def _admit(check: Check, context: Context) -> None:
    refused = check(context)
    if refused is not None:
        await context.abort_with_status(refused)  # type: ignore[attr-defined]


# How much of a refused client stream is read before the refusal is sent (see below).
_REFUSED_STREAM_MESSAGES = 8
_REFUSED_STREAM_S = 0.5


async def _admit_stream(check: Check, requests: Any, context: Context) -> None:
    """:func:`_admit` for methods whose requests stream (reflection's is one).

    A status sent while the client is still writing makes grpc's client report its own write
    failure (INTERNAL "Internal error from Core", about 1 call in 300 here) instead of the
    refusal; so a refused caller's first few messages (at most 8, for at most 0.5 s: the
    caller is not trusted) are read and dropped before the refusal goes out.
    """
    refused = check(context)
    if refused is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_REFUSED_STREAM_S):
            count = 0
            async for _ in requests:
                count += 1
                if count >= _REFUSED_STREAM_MESSAGES:
                    break
    await context.abort_with_status(refused)  # type: ignore[attr-defined]


async def _fail(method: str, context: Context) -> None:
    log.exception("unexpected error in %s", method)
    await context.abort(grpc.StatusCode.INTERNAL, GENERIC_MESSAGE)


def guard(method: str, handler: Any, check: Check | None = None) -> Any:
    """``handler`` decoding its own requests and hiding unexpected exceptions; ``check``, when
    given, runs first and may end the call.

    Raises ValueError (at registration) when ``check`` is given and ``handler`` has no method
    kind to run it on: a method must never be served unchecked by mistake.
    """
    decode = handler.request_deserializer
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(data: bytes, context: Context) -> Any:
            if check is not None:
                await _admit(check, context)
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
            if check is not None:
                await _admit(check, context)
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
            if check is not None:
                await _admit(check, context)
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
    # Client-streaming methods (server reflection is the only one served): not decoded here.
    return handler if check is None else checked(method, handler, check)


def checked(method: str, handler: Any, check: Check) -> Any:
    """``handler`` (of any kind) running ``check`` before anything else.

    Raises ValueError when ``handler`` has no method kind (nothing to check).
    """
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None or handler.stream_unary is not None:
        single = handler.unary_unary or handler.stream_unary

        admit_one = _admit if handler.unary_unary is not None else None

        async def one(request: Any, context: Context) -> Any:
            if admit_one is not None:
                await admit_one(check, context)
            else:
                await _admit_stream(check, request, context)
            return await single(request, context)

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(one, **serializers)
        return grpc.stream_unary_rpc_method_handler(one, **serializers)
    if handler.unary_stream is not None or handler.stream_stream is not None:
        many = handler.unary_stream or handler.stream_stream

        streaming_requests = handler.stream_stream is not None

        async def admit(request: Any, context: Context) -> None:
            if streaming_requests:
                await _admit_stream(check, request, context)
            else:
                await _admit(check, context)

        async def items(request: Any, context: Context) -> AsyncIterator[Any]:
            await admit(request, context)
            async for item in many(request, context):
                yield item

        async def writes(request: Any, context: Context) -> None:
            # Handlers that stream with context.write().
            await admit(request, context)
            await many(request, context)

        chosen = items if inspect.isasyncgenfunction(many) else writes
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(chosen, **serializers)
        return grpc.stream_stream_rpc_method_handler(chosen, **serializers)
    raise ValueError(f"{method}: cannot check a method handler of no known kind")


class _GuardedGeneric(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """A generic handler whose method handlers are guarded, each wrapped once."""

    def __init__(self, inner: Any, wrap: Wrapper) -> None:
        self._inner = inner
        self._wrap = wrap
        self._cache: dict[str, Any] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        method: str = handler_call_details.method
        found = self._cache.get(method)
        if found is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            found = self._cache[method] = self._wrap(method, handler)
        return found


class GuardedServer:
    """Registers services on a ``grpc.aio`` server with every method handler guarded.

    Pass it where generated ``add_*_to_server`` functions expect a server; ``wrap`` (tracing)
    goes around the guard, and ``checks`` gives each method's access check, which runs first
    (outside ``wrap``: a refused call opens no span). Wrapping at
    registration costs nothing per call; a server interceptor would rebuild the wrapper (and
    add a coroutine layer) on every call.
    """

    def __init__(
        self, server: grpc.aio.Server, wrap: Wrapper | None = None, checks: Checks | None = None
    ) -> None:
        self._server = server
        self._wrap = wrap
        self._checks = checks

    def _guard(self, method: str, handler: Any) -> Any:
        check = self._checks(method) if self._checks else None
        if self._wrap is None:
            return guard(method, handler, check)  # the check inline: no extra layer per call
        wrapped = self._wrap(method, guard(method, handler))
        return wrapped if check is None else checked(method, wrapped, check)

    def add_generic_rpc_handlers(self, handlers: Sequence[Any]) -> None:
        self._server.add_generic_rpc_handlers([_GuardedGeneric(h, self._guard) for h in handlers])

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self._server.add_registered_method_handlers(  # type: ignore[attr-defined]
            service, {name: self._guard(f"/{service}/{name}", h) for name, h in handlers.items()}
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
