"""The durable outbox that ships usage events to the metrics service.

The request path calls :meth:`UsageOutbox.submit`, which appends to an in-memory list and
returns, then awaits :meth:`UsageOutbox.durable` before its answer goes out: the records are
in the SQLite file (WAL) by then, written in group commits shared by concurrent requests (see
:mod:`.writer`). A background task ships the file's oldest rows to
``MetricsService.RecordUsage`` in batches (once a batch is full, else every flush interval),
deleting them only once the metrics service has acknowledged them. The metrics service
deduplicates by record id, so a batch shipped twice (crash between ack and delete) is stored
once: at-least-once delivery, exactly-once storage.

Bounded: beyond ``max_records`` waiting events, new events are dropped and counted in
``dropped``. Nothing is dropped below the bound. Rows the metrics service rejects as invalid
(INVALID_ARGUMENT) are moved to a ``rejected`` table instead of blocking the queue forever;
events that cannot even be made records are kept in its ``dead_letter`` table
(:mod:`.dead_letter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from llmrouter.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from .dead_letter import event_of
from .event import UsageEvent
from .store import OutboxStore
from .writer import OutboxWriter

__all__ = ["MAX_BATCH_BYTES", "ChannelFactory", "OutboxStats", "Sleep", "UsageOutbox"]

# A RecordUsage request carries at most this many bytes of records (the metrics service
# receives up to 16 MiB by default), and the channel to it sends no more: a batch over the
# metrics service's limit would be refused, and retried, forever. A single record over it is
# set aside as rejected.
MAX_BATCH_BYTES = 4 * 1024 * 1024

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OutboxStats:
    """Counters for operators and tests."""

    submitted: int = 0
    shipped: int = 0
    dropped: int = 0
    rejected: int = 0
    ship_failures: int = 0
    # Group commits to the file, and answers sent before their records were in it.
    commits: int = 0
    not_durable: int = 0
    # Events that could not be made records, kept in the file's dead letters (.dead_letter).
    dead_letters: int = 0


Sleep = Callable[[float], Awaitable[None]]
# Opens the channel to the metrics service at an address (TLS and credentials are its business).
ChannelFactory = Callable[[str], grpc.aio.Channel]


def _fitting(rows: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The oldest ``rows`` whose request stays within MAX_BATCH_BYTES (at least one)."""
    total = 0
    for n, (_, blob) in enumerate(rows):
        total += len(blob) + 6  # tag and length prefix of each record
        if total > MAX_BATCH_BYTES and n:
            return rows[:n]
    return rows


def _request_of(blobs: Iterable[bytes]) -> metrics_service_pb2.RecordUsageRequest:
    """A RecordUsageRequest of serialised records, parsed once (in C) instead of per record:
    each record is field 1 of the request, length-delimited."""
    parts = []
    for blob in blobs:
        parts.append(_varint_tagged(len(blob)))
        parts.append(blob)
    return metrics_service_pb2.RecordUsageRequest.FromString(b"".join(parts))


def _varint_tagged(length: int) -> bytes:
    out = bytearray(b"\x0a")  # field 1, wire type 2
    while length >= 0x80:
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    out.append(length)
    return bytes(out)


class UsageOutbox:
    """Durable, bounded, batched delivery of usage events to the metrics service."""

    def __init__(
        self,
        path: str,
        metrics_address: str,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        max_records: int = 1_000_000,
        rpc_timeout_s: float = 10.0,
        max_backoff_s: float = 5.0,
        durable_timeout_s: float = 0.5,
        sleep: Sleep = asyncio.sleep,
        channel: ChannelFactory = grpc.aio.insecure_channel,
    ) -> None:
        self._store = OutboxStore(path)
        self._address = metrics_address
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_records = max_records
        self._rpc_timeout = rpc_timeout_s
        self._max_backoff = max_backoff_s
        self._sleep = sleep
        self._open_channel = channel
        self._writer = OutboxWriter(
            self._store,
            interval_s=flush_interval_s,
            durable_timeout_s=durable_timeout_s,
            on_stored=self._stored_more,
        )
        self._stored = self._store.count()
        self._stored_event = asyncio.Event()
        self._closing = False
        self._channel: grpc.aio.Channel | None = None
        self._stub: metrics_service_pb2_grpc.MetricsServiceStub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stats = OutboxStats()

    @property
    def stats(self) -> OutboxStats:
        """The counters, the writer's included."""
        self._stats.commits = self._writer.stats.commits
        self._stats.not_durable = self._writer.stats.not_durable
        self._stats.dead_letters = self._writer.stats.dead_letters
        return self._stats

    @property
    def depth(self) -> int:
        """Events waiting: in memory (queued or being written) plus in the file."""
        return self._writer.waiting + self._stored

    def submit(self, event: UsageEvent) -> None:
        """Queue ``event``; never blocks, never raises. Drops (and counts) beyond the bound."""
        self._stats.submitted += 1
        if self.depth >= self._max_records:
            self._stats.dropped += 1
            return
        self._writer.add(event)

    def durable(self) -> Coroutine[Any, Any, None]:
        """Return once every event submitted so far is in the outbox file, or after the
        durability timeout (then counted in ``stats.not_durable``); never raises.

        The writer's own coroutine, not one wrapping it: awaited once per answer."""
        return self._writer.durable()

    def _stored_more(self, count: int) -> None:
        self._stored += count
        if self._stored >= self._batch_size:
            self._stored_event.set()

    async def start(self) -> None:
        """Open the channel and start the background tasks (resuming any stored records)."""
        self._channel = self._open_channel(self._address)
        self._stub = metrics_service_pb2_grpc.MetricsServiceStub(self._channel)
        self._tasks = [
            asyncio.create_task(self._writer.run(), name="usage-persist"),
            asyncio.create_task(self._ship_loop(), name="usage-ship"),
        ]
        if self._stored:
            self._stored_event.set()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Persist everything pending, try to ship it for up to ``timeout_s``, then stop.

        Whatever could not be shipped stays in the file and ships after the next start.
        """
        self._closing = True
        await self._writer.persist()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._stored and self._stub is not None:
                    if not await self._ship_once():
                        break
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._channel is not None:
            await self._channel.close(grace=None)
        await asyncio.to_thread(self._store.close)

    def dead_letters(self) -> list[UsageEvent]:
        """The events kept in the file's dead letters, oldest first (blocks: tests and
        operators' tools)."""
        return [event_of(text) for _, text, _, _ in self._store.dead_letters()]

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything submitted so far is shipped (tests and shutdown)."""
        async with asyncio.timeout(timeout_s):
            while self.depth:
                self._writer.wake()
                self._stored_event.set()
                await asyncio.sleep(0.01)

    async def _ship_loop(self) -> None:
        backoff = 0.05
        while True:
            if self._stored < self._batch_size:
                # A batch ships once full or once the flush interval has passed, not after
                # every group commit: answers commit small groups, and an RPC plus a delete per
                # group would cost more than the commit itself.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._stored_event.wait()
            self._stored_event.clear()
            if not self._stored:
                continue
            if await self._ship_once():
                backoff = 0.05
                continue
            self._stats.ship_failures += 1
            # Full jitter keeps many routers from hammering a recovering metrics service at once.
            await self._sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, self._max_backoff)

    async def _ship_once(self) -> bool:
        """Ship the oldest batch; True when it was acknowledged (or its bad rows set aside)."""
        assert self._stub is not None
        rows = await asyncio.to_thread(self._store.oldest, self._batch_size)
        if not rows:
            self._stored = 0
            return True
        rows = _fitting(rows)
        if len(rows[0][1]) > MAX_BATCH_BYTES:
            seq, blob = rows[0]
            log.error("usage outbox: a record of %d bytes cannot be shipped; set aside", len(blob))
            await asyncio.to_thread(self._store.reject, seq, "record larger than MAX_BATCH_BYTES")
            self._stats.rejected += 1
            self._stored = max(self._stored - 1, 0)
            return True
        request = _request_of(blob for _, blob in rows)
        try:
            await self._stub.RecordUsage(request, timeout=self._rpc_timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                await self._set_aside(rows, exc.details() or "invalid")
                return True
            return False
        await asyncio.to_thread(self._store.delete_through, [seq for seq, _ in rows])
        self._stored = max(self._stored - len(rows), 0)
        self._stats.shipped += len(rows)
        return True

    async def _set_aside(self, rows: list[tuple[int, bytes]], error: str) -> None:
        """Ship rows one by one; set aside those the metrics service calls invalid."""
        assert self._stub is not None
        for seq, blob in rows:
            request = metrics_service_pb2.RecordUsageRequest()
            request.records.add().MergeFromString(blob)
            try:
                await self._stub.RecordUsage(request, timeout=self._rpc_timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    return  # metrics went away; the loop retries the rest later
                log.error("usage outbox: metrics service rejected a record: %s", exc.details())
                await asyncio.to_thread(self._store.reject, seq, exc.details() or error)
                self._stats.rejected += 1
            else:
                await asyncio.to_thread(self._store.delete_through, [seq])
                self._stats.shipped += 1
            self._stored = max(self._stored - 1, 0)
