"""Relaying a stream in batches: what the upstream sent while the last message was being sent
goes out together.

A stream's events are relayed one gRPC message each while the router keeps up. When it does
not (many streams at once, a slow caller), the upstream's chunks queue in the socket; each
then cost a message of its own, on the router and again on the gateway (a gRPC read, an HTTP
write). :func:`batches` reads the events in a task of their own and hands over everything read
since the previous hand-over at once, so the cost per message is shared by the chunks that
queued, and nothing waits for company: a lone event goes out as soon as it is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from typing import TypeVar

__all__ = ["MAX_PENDING", "batches"]

T = TypeVar("T")

MAX_PENDING = 64
"""Events read ahead of the caller at most: beyond it the reader waits (backpressure reaches
the upstream as before, one batch later)."""


async def batches(
    source: AsyncGenerator[T, None], max_pending: int = MAX_PENDING
) -> AsyncGenerator[list[T], None]:
    """``source``'s items in order, as lists of the items read while the previous list was being
    consumed (each list non-empty, at most ``max_pending`` long); ``source``'s exception is
    raised after the items it produced before it.

    ``source`` is iterated in a task of its own (a copy of the current context) and closed
    there; closing this generator (the call ended early) cancels that task and waits for it,
    so ``source`` is closed before this generator's ``aclose`` returns.
    """
    loop = asyncio.get_running_loop()
    pending: list[T] = []
    # Set while the consumer waits for an item, or the reader for room.
    wake: asyncio.Future[None] | None = None
    room: asyncio.Future[None] | None = None

    def notify() -> None:
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def read() -> None:
        nonlocal room
        try:
            async with aclosing(source):
                async for item in source:
                    pending.append(item)
                    notify()
                    if len(pending) >= max_pending:
                        room = loop.create_future()
                        await room
        finally:
            notify()

    reader = asyncio.create_task(read())
    try:
        while True:
            if not pending:
                if reader.done():
                    break
                wake = loop.create_future()
                await wake
                wake = None
                continue
            batch = pending[:]
            pending.clear()
            if room is not None and not room.done():
                room.set_result(None)
            yield batch
        reader.result()  # the source's failure, after everything it produced
    finally:
        if not reader.done():
            reader.cancel()
            with suppress(BaseException):
                await reader
        elif not reader.cancelled():
            reader.exception()  # retrieved: raised above, or moot when the caller left
