"""Resuming a stream whose router replica died while the gateway relayed it.

gRPC retries a call on another replica only until response headers arrive (gRFC A6, see
:mod:`gateway.channels`); a router sends them with a stream's first chunk. A replica that dies
after that (SIGKILL, OOM, a lost node) ends the call with UNAVAILABLE and no status of its own.
:class:`ResumableStream` then asks the router channel again (round robin picks a live replica)
to continue the answer: the original messages plus the text already sent to the client as a
final assistant message, ``continue_final_message`` set, the model that was streaming named,
so the router uses the same continuation as for a broken upstream stream (models that can
continue only). The client sees one answer: one ``id``, one finish, the usage of the call
that finished it.

* Resumed: UNAVAILABLE without the router's ``ErrorInfo`` or its negative retry pushback (those
  are errors the router answered itself, which another replica would only repeat), no tool call
  in the answer, at most :data:`MAX_RESUMPTIONS` times, with at least :data:`MIN_LEFT_S` left
  of the request's deadline.
* A stream that died before any text was sent is asked again as it was (nothing to continue).
  Reasoning text (``delta.reasoning_content``) is not part of the text continued: a resumed
  call's own reasoning, if its model gives one, follows what the client already has.
* When a resumption fails before adding anything, the client gets the failure that ended the
  text it has, never the resumption's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

import grpc

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

__all__ = [
    "MAX_RESUMPTIONS",
    "MIN_LEFT_S",
    "ResumableStream",
    "StreamProgress",
    "replica_lost",
    "resumed_chat",
]

logger = logging.getLogger(__name__)

# Resumptions per request: each costs the answer's prompt again (and the text so far).
MAX_RESUMPTIONS = 2
# Seconds of the request's deadline a resumption needs left to be worth starting.
MIN_LEFT_S = 1.0

# Trailing metadata of an error the router answered itself (rich status; pushback -1).
_ROUTER_ANSWERED = frozenset({"grpc-status-details-bin", "grpc-retry-pushback-ms"})


class StreamProgress(Protocol):
    """What a stream's translator (gateway.translate.ChunkStream, MessageEvents) knows of
    what the client was sent, which resuming needs."""

    @property
    def finished(self) -> bool:
        """The summary was relayed."""

    @property
    def deltas(self) -> int:
        """Deltas relayed so far."""

    @property
    def text(self) -> str:
        """The answer's text sent so far."""

    @property
    def saw_tool_calls(self) -> bool:
        """A tool call was relayed."""

    @property
    def serving_model(self) -> str | None:
        """The model streaming, once the StreamStart came."""


def replica_lost(exc: grpc.aio.AioRpcError) -> bool:
    """``exc`` ended a call because its router went away (connection lost), not because the
    router answered with an error: UNAVAILABLE without the router's status details or pushback."""
    if exc.code() is not grpc.StatusCode.UNAVAILABLE:
        return False
    # grpc.aio.Metadata at run time: (key, value) pairs (the stubs type it as grpc.Call's).
    trailing = cast("Iterable[tuple[str, Any]]", exc.trailing_metadata() or ())
    return not any(key in _ROUTER_ANSWERED for key, _ in trailing)


def resumed_chat(chat: chat_pb2.ChatRequest, chunks: StreamProgress) -> chat_pb2.ChatRequest:
    """``chat`` asked again after ``chunks`` were sent: on the model that was streaming, and,
    once text was sent, as that text to continue (``continue_final_message``), with what is
    left of ``max_tokens`` and ``max_completion_tokens`` (each delta sent counted as one token,
    as streams send them)."""
    again = chat_pb2.ChatRequest()
    again.CopyFrom(chat)
    model = chunks.serving_model
    if model:
        again.model = model
    text = chunks.text
    if text:
        again.messages.append(chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content=text))
        again.continue_final_message = True
        for limit in ("max_tokens", "max_completion_tokens"):
            if again.HasField(limit):
                setattr(again, limit, max(getattr(again, limit) - chunks.deltas, 1))
    return again


class ResumableStream:
    """A StreamComplete call read through :meth:`read`, resumed on another replica when its
    router dies mid-stream (module docstring). ``chunks`` is the request's translator, fed
    with every message read (it holds what the client was sent); ``timeout_s`` the request's
    deadline from now."""

    def __init__(
        self,
        stub: router_service_pb2_grpc.RouterServiceStub,
        chat: chat_pb2.ChatRequest,
        chunks: StreamProgress,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = stub
        self._chat = chat
        self._chunks = chunks
        self._clock = clock
        self._deadline = clock() + timeout_s
        self._call: Any = stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat, accepts_delta_batches=True),
            timeout=timeout_s,
        )
        self._failure: grpc.aio.AioRpcError | None = None
        self._resumed_at = -1  # chunks.deltas when the current call began (-1: the first)
        self.resumptions = 0

    def cancel(self) -> None:
        """Cancel the current call (the client went away)."""
        self._call.cancel()

    async def read(self) -> Any:
        """The router's next message, or ``grpc.aio.EOF``; raises the AioRpcError that ended
        the text sent when the stream failed and could not be resumed."""
        while True:
            try:
                return await self._call.read()
            except grpc.aio.AioRpcError as exc:
                if self._failure is None or self._chunks.deltas > self._resumed_at:
                    self._failure = exc  # this call added to the answer: its failure stands
                if self._chunks.finished or not replica_lost(exc) or not self._resume():
                    raise self._failure from None

    def _resume(self) -> bool:
        """Ask again on the channel (round robin: a live replica); False when not allowed."""
        left = self._deadline - self._clock()
        if self.resumptions >= MAX_RESUMPTIONS or self._chunks.saw_tool_calls or left < MIN_LEFT_S:
            return False
        self.resumptions += 1
        self._resumed_at = self._chunks.deltas
        # No content, no ids a client chose: the model and how far the answer had come.
        logger.warning(
            "router went away mid-stream: resuming on another replica (%d of %d, model %s, "
            "%d chunks sent)",
            self.resumptions,
            MAX_RESUMPTIONS,
            self._chunks.serving_model or "-",
            self._chunks.deltas,
        )
        request = router_service_pb2.StreamCompleteRequest(
            chat=resumed_chat(self._chat, self._chunks), accepts_delta_batches=True
        )
        self._call = self._stub.StreamComplete(request, timeout=left)
        return True
