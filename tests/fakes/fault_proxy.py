"""A TCP proxy that misbehaves on purpose, between the router and a fake upstream.

Each request gets one :class:`Fault`, drawn from a scripted queue or at random from a weighted
mix. The proxy knows nothing of HTTP: a request is the client's bytes that follow a response
(or open the connection), and the fault applies to the bytes that come back:

* ``pass``: bytes flow untouched;
* ``latency``: every piece of the response waits ``delay_s`` first;
* ``reset``: ``after_bytes`` of the response come back, then the connection is reset (RST);
* ``truncate``: like ``reset``, but the connection is closed cleanly (FIN): a short body;
* ``stall``: the response never comes back (until the client gives up and closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "running_proxy"]

FaultKind = Literal["pass", "latency", "reset", "truncate", "stall"]
_READ = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """What happens to one connection."""

    kind: FaultKind = "pass"
    # latency: seconds before each forwarded piece of the response.
    delay_s: float = 0.0
    # reset / truncate: response bytes let through before the connection ends.
    after_bytes: int = 0


PASS = Fault()


class FaultProxy:
    """Listens on a free port and forwards to ``target``; ``await start()``, ``await stop()``."""

    def __init__(self, target_host: str, target_port: int, *, seed: int = 0) -> None:
        self._target = (target_host, target_port)
        self._random = random.Random(seed)
        self._script: deque[Fault] = deque()
        self._mix: list[tuple[Fault, float]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.applied: Counter[str] = Counter()
        """Requests by the fault they got."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port``."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *faults: Fault) -> None:
        """The next connections get ``faults`` in order, before the mix applies again."""
        self._script.extend(faults)

    def mix(self, weights: Mapping[Fault, float] | None) -> None:
        """Choose each connection's fault at random with these weights (None: all pass)."""
        self._mix = list((weights or {}).items())

    def _choose(self) -> Fault:
        if self._script:
            return self._script.popleft()
        if not self._mix:
            return PASS
        faults, weights = zip(*self._mix, strict=True)
        return self._random.choices(faults, weights)[0]

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        link = _Link(self._draw)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            except OSError:
                _reset(writer)
                return
            requests = asyncio.create_task(link.copy_requests(reader, upstream_writer))
            try:
                await link.respond(upstream_reader, writer, requests)
            finally:
                requests.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await requests
        except (OSError, asyncio.CancelledError):
            _reset(writer)
        finally:
            writer.close()
            if upstream_writer is not None:
                upstream_writer.close()
            self._tasks.discard(task)

    def _draw(self) -> Fault:
        fault = self._choose()
        self.applied[fault.kind] += 1
        return fault


class _Link:
    """One proxied connection: the fault of the request in flight."""

    def __init__(self, draw: Callable[[], Fault]) -> None:
        self._draw = draw
        self.fault = PASS
        self._awaiting_request = True  # the next client bytes start a new request

    async def copy_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Client to upstream, untouched, until the client closes; draws a fault per request."""
        while data := await reader.read(_READ):
            if self._awaiting_request:
                self.fault = self._draw()
                self._awaiting_request = False
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def respond(
        self,
        upstream: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        requests: asyncio.Task[None],
    ) -> None:
        """Upstream to client, with each request's fault applied."""
        sent = 0
        while data := await upstream.read(_READ):
            if not self._awaiting_request:  # the first bytes of this request's response
                self._awaiting_request = True
                sent = 0
            fault = self.fault
            if fault.kind == "stall":
                await requests  # hold the response until the client gives up
                return
            if fault.kind == "latency":
                await asyncio.sleep(fault.delay_s)
            if fault.kind in ("reset", "truncate") and sent + len(data) >= fault.after_bytes:
                client.write(data[: max(fault.after_bytes - sent, 0)])
                await client.drain()
                await asyncio.sleep(0.01)  # let the partial response reach the client first
                if fault.kind == "reset":
                    _reset(client)
                return
            client.write(data)
            await client.drain()
            sent += len(data)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextlib.asynccontextmanager
async def running_proxy(target_url: str, *, seed: int = 0) -> AsyncIterator[FaultProxy]:
    """A started FaultProxy in front of ``target_url`` (``http://host:port``), stopped on exit."""
    target = urlsplit(target_url)
    if target.hostname is None or target.port is None:
        raise ValueError(f"expected http://host:port, got {target_url!r}")
    proxy = FaultProxy(target.hostname, target.port, seed=seed)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
