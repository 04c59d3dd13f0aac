"""Relaying a stream in batches once the router falls behind: what the upstream sent while the
last message was being sent goes out together.

A stream's events are relayed one gRPC message each while the router keeps up. When it does
not (many streams at once, a slow caller), the upstream's chunks queue in the socket; each
then cost a message of its own, on the router and again on the gateway (a gRPC read, an HTTP
write). :func:`batches` notices that a hand-over took the caller long, and from then on reads
the events in a task of its own and hands over everything read since the previous hand-over
at once, so the cost per message is shared by the chunks that queued. Nothing waits for
company: a lone event goes out as soon as it is read. While the router keeps up, no task and
no hand-over between tasks is added (that costs ~6 % of the router's instructions per
stream, ``bench/router_ab.py --callgrind``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from typing import TypeVar

__all__ = ["BEHIND_S", "MAX_PENDING", "batches"]

T = TypeVar("T")

MAX_PENDING = 64
"""Events read ahead of the caller at most: beyond it the reader waits (backpressure reaches
the upstream as before, one batch later)."""

BEHIND_S = 0.002
"""A hand-over that took the caller longer than this (seconds; sending a message takes tens of
microseconds when the process keeps up) means it is behind."""


async def batches(
    source: AsyncGenerator[T, None],
    max_pending: int = MAX_PENDING,
    behind_s: float = BEHIND_S,
) -> AsyncGenerator[list[T], None]:
    """``source``'s items in order, as lists (each non-empty, at most ``max_pending`` long);
    ``source``'s exception is raised after the items it produced before it.

    While the caller keeps up, each item is handed over alone, as it comes, from the caller's
    task. Once a hand-over takes the caller more than ``behind_s`` seconds, ``source`` is
    iterated on in a task of its own (a copy of the current context), and each list holds what
    it produced while the previous one was being consumed. Either way ``source`` is closed
    before this generator's ``aclose`` returns (the call ended early): the reader task, if
    any, is cancelled and awaited.
    """
    loop = asyncio.get_running_loop()
    behind = False
    try:
        while not behind:
            try:
                item = await anext(source)
            except StopAsyncIteration:
                return
            handed = loop.time()
            yield [item]
            behind = loop.time() - handed > behind_s
    finally:
        if not behind:
            await source.aclose()
    async with aclosing(_read_ahead(source, max_pending)) as ahead:
        async for batch in ahead:
            yield batch


async def _read_ahead(
    source: AsyncGenerator[T, None], max_pending: int
) -> AsyncGenerator[list[T], None]:
    """:func:`batches` once behind: ``source`` read in a task of its own."""
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
