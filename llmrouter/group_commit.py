"""Group commit: calls made while one is in flight go out together as the next one.

As a database's group commit: alone, a call goes out at once; under load, one round trip
serves many. Used for the shared store's scripts (rate limits: :mod:`llmrouter.rate_counters`;
budgets: ``router_svc.budgets.counters``), where the client's cost per call (redis-py
encoding a command, parsing its reply, a task switch) dwarfs the script's work per item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

G = TypeVar("G")
R = TypeVar("R")


class GroupCommit(Generic[G, R]):
    """Batches of items of type ``G`` sent by ``send`` (one reply ``R`` per item, in order;
    whatever it raises, every item of the batch raises)."""

    def __init__(self, send: Callable[[list[G]], Awaitable[list[R]]]) -> None:
        self._send = send
        self._waiting: list[tuple[G, asyncio.Future[R]]] = []
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, group: G) -> R:
        """Send ``group`` (with whatever waits) and return its reply; raises what the send
        raised."""
        if self._busy:
            future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            self._waiting.append((group, future))
            return await future
        self._busy = True  # this caller sends its own group, then hands the queue on
        try:
            return (await self._send([group]))[0]
        finally:
            self._next()

    def post(self, group: G) -> asyncio.Future[R]:
        """Queue ``group`` without waiting (no task of its own: bookkeeping whose answer
        nobody waits for); its reply, or the send's exception, arrives in the future."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((group, future))
        if not self._busy:
            self._busy = True
            self._next()
        return future

    async def drain(self) -> None:
        """Wait until nothing is queued or in flight (tests, shutdown)."""
        while self._busy:
            if self._tasks:
                await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
            else:  # a submit() sending its own group in its caller's task
                await asyncio.sleep(0.001)

    def _next(self) -> None:
        if not self._waiting:
            self._busy = False
            return
        task = asyncio.get_running_loop().create_task(self._drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            replies = await self._send([group for group, _ in batch])
        except BaseException as exc:  # every caller of the batch sees the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), reply in zip(batch, replies, strict=True):
                if not future.done():
                    future.set_result(reply)
        finally:
            self._next()
