"""A real HTTP webhook receiver for alert tests: records every POST (headers and raw body)
and answers with scripted statuses (then 200), over a real socket on port 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ._http import BadRequest, Connection, response_head

__all__ = ["Delivered", "WebhookReceiver", "running_receiver"]


@dataclass(frozen=True)
class Delivered:
    """One POST as received."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each POST with the next of ``statuses`` (200 once they run out)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Delivered] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _got: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    def accepted(self) -> list[Delivered]:
        """The POSTs answered 2xx, in order."""
        return [d for d, ok in zip(self.received, self._answers, strict=True) if ok]

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        """Until ``count`` POSTs have arrived (TimeoutError past ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self._got.clear()
                await self._got.wait()

    async def start(self) -> None:
        """Listen on 127.0.0.1, a free port."""
        self._answers: list[bool] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening; connections get a second to close from the client's side."""
        if self._server is not None:
            self._server.close()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=1.0)
            for writer in self._writers:
                writer.close()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self._writers.append(writer)
        try:
            while True:
                try:
                    request = await conn.read_request()
                except BadRequest:
                    return
                if request is None:
                    return
                status = self.statuses.pop(0) if self.statuses else 200
                self.received.append(Delivered(request.path, request.headers, request.body))
                self._answers.append(200 <= status < 300)
                self._got.set()
                body = b'{"ok":true}' if status < 300 else b'{"error":"scripted"}'
                head = response_head(
                    status,
                    [("content-type", "application/json"), ("content-length", str(len(body)))],
                )
                await conn.send(head + body)
        except Exception:  # a client gone mid-answer: nothing to record
            return
        finally:
            conn.close()


@contextlib.asynccontextmanager
async def running_receiver(statuses: list[int] | None = None) -> AsyncIterator[WebhookReceiver]:
    """A started receiver, stopped on exit."""
    receiver = WebhookReceiver(statuses=list(statuses or []))
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()
