"""Splitting a streamed response body into its events: SSE ``data`` values or JSON lines.

Works on the body's bytes as the transport hands them over (whatever arrived since the last
read, often several events at once when the router is busy), without a text decoder or a line
decoder object in between: one split per read, one decode per event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from typing import Literal

__all__ = ["payloads"]


async def payloads(
    body: AsyncIterable[bytes], framing: Literal["sse", "ndjson"]
) -> AsyncGenerator[str, None]:
    """The events of ``body``: for ``sse``, the value of each ``data:`` line (stripped; other
    fields and comments skipped: the WHATWG "Server-sent events" section's line format, any of
    CRLF, LF or CR ending a line); for ``ndjson``, each line that is not blank. A last line
    without its line break counts. Bytes that are not UTF-8 read as U+FFFD."""
    sse = framing == "sse"
    rest = b""
    async for data in body:
        if rest:
            data = rest + data
        if b"\r" in data:
            # A CR ending one read and its LF starting the next make an extra blank line,
            # which carries no event.
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if sse:
                if line.startswith(b"data:"):
                    yield line[5:].strip().decode(errors="replace")
            elif line.strip():
                yield line.decode(errors="replace")
    if sse:
        if rest.startswith(b"data:"):
            yield rest[5:].strip().decode(errors="replace")
    elif rest.strip():
        yield rest.decode(errors="replace")
