"""Server-sent events, and noticing that the HTTP client went away while the router works.

Uvicorn does not cancel a request's task when its client disconnects (ASGI spec 2.3); it only
answers ``receive()`` with ``http.disconnect``. Both helpers here watch ``receive()`` next to the
work and cancel the router call the moment the client is gone, so no tokens are spent for
nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["ClientGone", "SSEResponse", "sse_event", "until_disconnect", "wait_disconnect"]

T = TypeVar("T")

DONE_EVENT = b"data: [DONE]\n\n"


class ClientGone(Exception):
    """The HTTP client disconnected before the answer was ready."""


def sse_event(data: Mapping[str, Any]) -> bytes:
    """One SSE ``data:`` event carrying ``data`` as JSON."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def wait_disconnect(receive: Receive) -> None:
    """Return once the client has disconnected (the request body must be fully read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def until_disconnect(receive: Receive, work: Awaitable[T], cancel: Callable[[], object]) -> T:
    """Await ``work``; if the client disconnects first, call ``cancel`` and raise ClientGone.

    ``work`` runs in the calling task (no task of its own on the request path); a watcher task
    waits for the disconnect and, when it comes, cancels the caller the way ``asyncio.timeout``
    does.
    """
    caller = asyncio.current_task()
    assert caller is not None
    finished = gone = False

    def on_disconnect(watcher: asyncio.Future[None]) -> None:
        nonlocal gone
        if finished or watcher.cancelled() or watcher.exception() is not None:
            return
        gone = True
        cancel()
        caller.cancel()

    watcher = asyncio.ensure_future(wait_disconnect(receive))
    watcher.add_done_callback(on_disconnect)
    try:
        return await work
    except asyncio.CancelledError:
        if gone and caller.uncancel() == 0:
            raise ClientGone from None
        cancel()  # this request itself was cancelled: stop the router call too
        raise
    finally:
        finished = True
        watcher.cancel()


class SSEResponse(Response):
    """A ``text/event-stream`` response that calls ``cancel`` if the client disconnects."""

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        cancel: Callable[[], object],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self._events = events
        self._cancel = cancel
        self.init_headers(
            {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        pump = asyncio.create_task(self._pump(send))
        watcher = asyncio.create_task(wait_disconnect(receive))
        try:
            await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pump.done():  # the client left, or the server is shutting down
                self._cancel()
                pump.cancel()
            watcher.cancel()
            await asyncio.gather(pump, watcher, return_exceptions=True)
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if not pump.cancelled():
            pump.result()  # re-raise a failure of the pump itself

    async def _pump(self, send: Send) -> None:
        async for event in self._events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
