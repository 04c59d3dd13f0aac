"""HTTP/1.1 over raw asyncio streams: just enough to serve requests and to misbehave on purpose.

A real HTTP library would hide exactly what the fake upstream needs to control: when headers go
out, where a chunked body stops, and whether the client is still there while we wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

__all__ = [
    "LAST_CHUNK",
    "BadRequest",
    "ClientGone",
    "Connection",
    "Request",
    "chunk",
    "reason_phrase",
    "response_head",
]

MAX_LINE = 64 * 1024
READ_SIZE = 64 * 1024
LAST_CHUNK = b"0\r\n\r\n"
# Statuses real LLM APIs send that the standard library does not name.
_EXTRA_PHRASES = {529: "Site Overloaded"}


class ClientGone(Exception):
    """The client closed or reset the connection before the response was complete."""


class BadRequest(Exception):
    """The bytes received are not a request this server can answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """One parsed request; header names are lower-case, repeated headers joined by ", "."""

    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        """Whether the client lets the connection stay open after the response."""
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def reason_phrase(status: int) -> str:
    """The reason phrase for a status line."""
    if status in _EXTRA_PHRASES:
        return _EXTRA_PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def response_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """A status line and header block, ready to write."""
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Connection:
    """One client connection: buffered reads, flushed writes, and disconnect detection.

    A single read is kept pending while the server waits (delays, stalls, slow streams), so a
    client that goes away is noticed at once; bytes that arrive meanwhile stay in the buffer
    for the next request.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buffer = bytearray()
        self._pending: asyncio.Future[bytes] | None = None
        self._gone = False

    async def read_request(self) -> Request | None:
        """The next request, or None if the client closed the connection first."""
        try:
            head = await self._read_until(b"\r\n\r\n", 431, "request head too large")
            method, path, version, headers = _parse_head(head)
            if headers.get("expect", "").lower() == "100-continue":
                self._writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await self._read_body(headers)
        except ClientGone:
            return None
        return Request(method, path, version, headers, body)

    async def pause(self, seconds: float | None) -> None:
        """Wait ``seconds`` (None: forever); raise ClientGone as soon as the client leaves."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            if not await self._receive(remaining):
                return

    async def send(self, data: bytes) -> None:
        """Write and flush ``data``; raise ClientGone if the client has left."""
        self._poll()
        if self._gone or self._writer.is_closing():
            raise ClientGone
        self._writer.write(data)
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._gone = True
            raise ClientGone from exc

    def close(self) -> None:
        """Flush what was written and close the socket (no terminating chunk is added)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._writer.close()

    def abort(self) -> None:
        """Drop the connection at once; a pending wait or write ends with ClientGone."""
        self._writer.transport.abort()

    def _poll(self) -> None:
        # Take in a read that finished while we were writing, without waiting for one.
        if self._pending is not None and self._pending.done():
            self._take()

    async def _receive(self, wait_s: float | None) -> bool:
        """Wait up to ``wait_s`` for more bytes; False if none came, ClientGone at end of stream."""
        if self._gone:
            raise ClientGone
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._reader.read(READ_SIZE))
        done, _ = await asyncio.wait({self._pending}, timeout=wait_s)
        if not done:
            return False
        self._take()
        return True

    def _take(self) -> None:
        assert self._pending is not None
        pending, self._pending = self._pending, None
        try:
            data = pending.result()
        except (ConnectionError, OSError) as exc:
            self._gone = True
            raise ClientGone from exc
        if not data:
            self._gone = True
            raise ClientGone
        self._buffer += data

    async def _read_until(self, separator: bytes, status: int, too_long: str) -> bytes:
        while (end := self._buffer.find(separator)) < 0:
            if len(self._buffer) > MAX_LINE:
                raise BadRequest(status, too_long)
            await self._receive(None)
        data = bytes(self._buffer[:end])
        del self._buffer[: end + len(separator)]
        return data

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._receive(None)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        coding = headers.get("transfer-encoding", "").strip().lower()
        if coding == "chunked":
            return await self._read_chunked()
        if coding:
            raise BadRequest(501, f"unsupported transfer-encoding {coding!r}")
        length = headers.get("content-length", "0").strip()
        if not length.isdigit():
            raise BadRequest(400, f"bad content-length {length!r}")
        return await self._read_exactly(int(length))

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = await self._read_until(b"\r\n", 400, "chunk size line too long")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, f"bad chunk size {line!r}") from None
            if size == 0:
                # Trailer fields, if any, end with an empty line; they are ignored.
                while await self._read_until(b"\r\n", 400, "trailer too long"):
                    pass
                return bytes(body)
            body += await self._read_exactly(size)
            if await self._read_exactly(2) != b"\r\n":
                raise BadRequest(400, "chunk not followed by CRLF")


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"bad request line {lines[0]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"bad header line {line!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target.split("?", 1)[0], version, headers
