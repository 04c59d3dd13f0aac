"""A real local HTTP server that speaks OpenAI, Anthropic and Ollama, and misbehaves on request.

Tests point a provider at ``FakeUpstream.base_url`` and script, per model, what each request
gets: an error status with Retry-After, a delay, a stall, a malformed body, a slow or cut stream.
It runs on raw asyncio streams so it controls every byte and notices when the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from tests.fakes._answer import Answer, JSONObject, Reported, WireFormat, dumps, make_answer
from tests.fakes._anthropic import AnthropicMessages
from tests.fakes._behavior import Behavior
from tests.fakes._embeddings import EMBED_PATHS, embed_answer
from tests.fakes._http import (
    LAST_CHUNK,
    BadRequest,
    ClientGone,
    Connection,
    Request,
    chunk,
    reason_phrase,
    response_head,
)
from tests.fakes._ollama import OllamaChat, tag_list
from tests.fakes._openai import OpenAIChat, model_list

__all__ = ["Behavior", "FakeUpstream", "RecordedRequest", "running_upstream"]

_log = logging.getLogger(__name__)

_CHAT: dict[str, WireFormat] = {
    "/v1/chat/completions": OpenAIChat(),
    "/chat/completions": OpenAIChat(),
    "/v1/messages": AnthropicMessages(),
    "/api/chat": OllamaChat(),
}
# Model listings name the models given behaviors, plus this one.
_LISTINGS: dict[str, Callable[[Iterable[str]], JSONObject]] = {
    "/v1/models": model_list,
    "/models": model_list,
    "/api/tags": tag_list,
}
_DEFAULT_MODEL = "fake-model"
_DEFAULT_MESSAGES = {429: "Rate limit reached for requests", 529: "Overloaded"}


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    json: Any
    """The parsed body; None when absent or not JSON."""
    model: str | None
    """The body's ``model`` field, if a string."""
    time: float
    """``time.monotonic()`` when the request was complete."""


class FakeUpstream:
    """The fake LLM upstream server. ``await start()``, use ``base_url``, ``await stop()``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        """Responses abandoned because the client closed the connection first."""
        self.connections = 0
        """TCP connections accepted; with keep-alive, fewer than requests."""
        self._behaviors: dict[str | None, deque[Behavior]] = {}
        self._server: asyncio.Server | None = None
        self._host = ""
        self._port = 0
        self._open: dict[asyncio.Task[Any], Connection] = {}
        self._stopping = False
        # Wakes wait_requests / wait_disconnects.
        self._changed = asyncio.Condition()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 picks a free port)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        self._host = host
        self._port = int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """``http://host:port`` without a trailing slash."""
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self._host}:{self._port}"

    def set(self, model: str | None, *behaviors: Behavior) -> None:
        """Queue behaviors for ``model`` (None: every model without its own queue).

        Each request pops the next one; the last one repeats. No behaviors clears the queue.
        """
        if behaviors:
            self._behaviors[model] = deque(behaviors)
        else:
            self._behaviors.pop(model, None)

    def calls(self, model: str) -> int:
        """How many requests named ``model``."""
        return sum(1 for request in self.requests if request.model == model)

    async def wait_requests(self, count: int = 1, within_s: float = 2.0) -> None:
        """Wait until ``count`` requests have arrived; TimeoutError after ``within_s``."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: len(self.requests) >= count)

    async def wait_disconnects(self, count: int = 1, within_s: float = 2.0) -> None:
        """Wait until ``disconnects`` reaches ``count``; TimeoutError after ``within_s``.

        The server notices a client's close a moment after the client raises, so tests wait.
        """
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: self.disconnects >= count)

    async def stop(self) -> None:
        """Stop listening and drop every open connection, including stalled ones."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        # Aborting, not cancelling: every wait in a handler watches its socket, so each one
        # ends at once, and Python 3.11's start_server logs an error for a cancelled handler.
        for connection in self._open.values():
            connection.abort()
        if self._open:
            await asyncio.wait(list(self._open), timeout=1.0)
        await self._server.wait_closed()
        self._server = None
        self._stopping = False

    def _next_behavior(self, model: str | None) -> Behavior:
        queue = self._behaviors.get(model) or self._behaviors.get(None)
        if not queue:
            return Behavior()
        return queue.popleft() if len(queue) > 1 else queue[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        connection = Connection(reader, writer)
        self._open[handler] = connection
        self.connections += 1
        try:
            while True:
                try:
                    request = await connection.read_request()
                except BadRequest as exc:
                    body = dumps({"error": {"message": exc.message, "type": "invalid_request"}})
                    with contextlib.suppress(ClientGone):
                        await _send_json(connection, exc.status, body, close=True)
                    return
                if request is None:
                    return
                try:
                    complete = await self._respond(connection, request)
                except ClientGone:
                    if not self._stopping:
                        self.disconnects += 1
                        await self._notify()
                    return
                if not complete or not request.keep_alive:
                    return
        except Exception:
            _log.exception("fake upstream failed")
        finally:
            connection.close()
            del self._open[handler]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _respond(self, connection: Connection, request: Request) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        try:
            body: Any = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=request.headers,
                json=body,
                model=model if isinstance(model, str) else None,
                time=time.monotonic(),
            )
        )
        await self._notify()
        close = not request.keep_alive
        wire = _CHAT.get(request.path)
        listing = _LISTINGS.get(request.path)
        if wire is not None and request.method == "POST":
            return await self._chat(connection, wire, body, request, close)
        dialect = EMBED_PATHS.get(request.path)
        if dialect is not None and request.method == "POST":
            return await self._embed(connection, dialect, body, close)
        if listing is not None and request.method == "GET":
            names = sorted({_DEFAULT_MODEL, *(m for m in self._behaviors if m is not None)})
            await _send_json(connection, 200, dumps(listing(names)), close=close)
            return True
        status = 405 if wire is not None or listing is not None or dialect else 404
        message = f"{request.method} {request.path}: {reason_phrase(status).lower()}"
        error = {"error": {"message": message, "type": "invalid_request_error"}}
        await _send_json(connection, status, dumps(error), close=close)
        return True

    async def _embed(self, connection: Connection, dialect: str, body: Any, close: bool) -> bool:
        """An embeddings request (tests.fakes._embeddings), scripted like a chat one: the
        behaviour's status, Retry-After, delay, stall, malformed and raw body apply."""
        model = body.get("model") if isinstance(body, dict) else None
        behavior = self._next_behavior(model if isinstance(model, str) else None)
        if behavior.stall:
            await connection.pause(None)
        await connection.pause(behavior.delay_s)
        extra = [] if behavior.retry_after is None else [("retry-after", behavior.retry_after)]
        if behavior.raw_body is not None:
            await _send_json(
                connection, behavior.status, behavior.raw_body, close=close, extra=extra
            )
            return True
        if behavior.status != 200:
            message = behavior.error_message or _DEFAULT_MESSAGES.get(
                behavior.status, reason_phrase(behavior.status)
            )
            wire = _CHAT["/api/chat" if dialect == "ollama" else "/v1/chat/completions"]
            error = wire.error(behavior.status, message, behavior.error_code)
            await _send_json(connection, behavior.status, dumps(error), close=close, extra=extra)
            return True
        if behavior.malformed:
            await _send_json(connection, 200, b"{not json", close=close, extra=extra)
            return True
        status, answer = embed_answer(dialect, body, behavior)
        await _send_json(connection, status, dumps(answer), close=close, extra=extra)
        return True

    async def _chat(
        self, connection: Connection, wire: WireFormat, body: Any, request: Request, close: bool
    ) -> bool:
        problem = wire.check(request.headers, body)
        if problem is not None:
            status, message = problem
            await _send_json(
                connection, status, dumps(wire.error(status, message, "")), close=close
            )
            return True
        behavior = self._next_behavior(body["model"])
        prefill = wire.prefill(body)
        if behavior.reject_prefill and body.get("continue_final_message") is not None:
            message = "Unrecognized request argument supplied: continue_final_message"
            await _send_json(connection, 400, dumps(wire.error(400, message, "")), close=close)
            return True
        if behavior.reject_prefill and prefill is not None:
            message = "this model does not support assistant message prefill"
            await _send_json(connection, 400, dumps(wire.error(400, message, "")), close=close)
            return True
        if behavior.reject_max_tokens and "max_tokens" in body:
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
            error = wire.error(400, message, "unsupported_parameter")
            await _send_json(connection, 400, dumps(error), close=close)
            return True
        if behavior.stall:
            await connection.pause(None)
        await connection.pause(behavior.delay_s)
        extra = [] if behavior.retry_after is None else [("retry-after", behavior.retry_after)]
        if behavior.raw_body is not None:
            await _send_json(
                connection, behavior.status, behavior.raw_body, close=close, extra=extra
            )
            return True
        if behavior.status != 200:
            message = behavior.error_message or _DEFAULT_MESSAGES.get(
                behavior.status, reason_phrase(behavior.status)
            )
            error = wire.error(behavior.status, message, behavior.error_code)
            await _send_json(connection, behavior.status, dumps(error), close=close, extra=extra)
            return True
        streaming = wire.wants_stream(body)
        if behavior.malformed and not streaming:
            await _send_json(connection, 200, wire.malformed_body, close=close, extra=extra)
            return True
        answer = make_answer(
            body,
            seq=len(self.requests),
            chunks=behavior.chunks,
            max_tokens=wire.max_tokens(body),
            text=behavior.text,
            prefill=prefill,
            prompt_tokens=behavior.prompt_tokens,
            arguments=behavior.tool_arguments,
            reported=_reported(behavior, body),
        )
        if not streaming:
            payload = dumps(wire.reply(answer))
            if behavior.cut_after is None:
                await _send_json(connection, 200, payload, close=close, extra=extra)
                return True
            # Promise the whole body, deliver half of it.
            await _send_json(connection, 200, payload, extra=extra, limit=len(payload) // 2)
            return False
        return await _stream(connection, wire, answer, body, behavior, close, extra)


def _reported(behavior: Behavior, body: Any) -> Reported:
    """How the answer reports itself: the behaviour's fields of that name, and the log
    probabilities the request asked for."""
    given = {f.name: getattr(behavior, f.name) for f in fields(Reported) if f.name != "logprobs"}
    return Reported(**given, logprobs=_top_logprobs(body))


async def _stream(
    connection: Connection,
    wire: WireFormat,
    answer: Answer,
    body: Any,
    behavior: Behavior,
    close: bool,
    extra: list[tuple[str, str]],
) -> bool:
    stream = wire.stream(answer, body)
    pieces = list(stream.pieces)
    if behavior.malformed:
        pieces[0] = wire.malformed_frame()
    headers = [
        ("content-type", stream.media_type),
        ("transfer-encoding", "chunked"),
        ("cache-control", "no-cache"),
        *extra,
    ]
    if close:
        headers.append(("connection", "close"))
    await connection.send(response_head(200, headers))
    await connection.pause(behavior.first_chunk_delay_s)
    if stream.head:
        await connection.send(b"".join(chunk(frame) for frame in stream.head))
    for i, piece in enumerate(pieces):
        if behavior.cut_after is not None and i >= behavior.cut_after:
            return False
        if behavior.stall_after is not None and i >= behavior.stall_after:
            await connection.pause(None)
        if behavior.stream_error is not None and i >= behavior.stream_error_after:
            break
        if i:
            await connection.pause(behavior.chunk_delay_s)
        if i == behavior.garbage_at:
            await connection.send(chunk(wire.malformed_frame()) * behavior.garbage_count)
        await connection.send(chunk(piece))
    if behavior.cut_after is not None:
        # Fewer pieces than cut_after: still cut, before the final frames.
        return False
    if behavior.stream_error is not None:
        error = wire.stream_error(behavior.stream_error, behavior.error_code)
        await connection.send(chunk(error) + LAST_CHUNK)
        return True
    if behavior.hang_before_end:
        tail = stream.tail[: len(stream.tail) - stream.end_marker]
        await connection.send(b"".join(chunk(frame) for frame in tail))
        await connection.pause(None)
        return False
    if behavior.drop_end_marker:
        tail = stream.tail[: len(stream.tail) - stream.end_marker]
        await connection.send(b"".join(chunk(frame) for frame in tail))
        return False  # closed without the body's terminating chunk
    await connection.send(b"".join(chunk(frame) for frame in stream.tail) + LAST_CHUNK)
    return True


async def _send_json(
    connection: Connection,
    status: int,
    payload: bytes,
    *,
    close: bool = False,
    extra: list[tuple[str, str]] | None = None,
    limit: int | None = None,
) -> None:
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(payload))),
        *(extra or []),
    ]
    if close:
        headers.append(("connection", "close"))
    await connection.send(response_head(status, headers) + payload[:limit])


@contextlib.asynccontextmanager
async def running_upstream(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[FakeUpstream]:
    """A started FakeUpstream, stopped on exit."""
    upstream = FakeUpstream()
    await upstream.start(host, port)
    try:
        yield upstream
    finally:
        await upstream.stop()


def _top_logprobs(body: Any) -> int | None:
    """How many alternatives per token the request asked for (``top_logprobs``, 0 when not
    given) when it asked for log probabilities (``logprobs: true``); None when it did not."""
    if not isinstance(body, dict) or body.get("logprobs") is not True:
        return None
    count = body.get("top_logprobs")
    return count if isinstance(count, int) else 0
