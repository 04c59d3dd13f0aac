"""Usage events and the durable outbox that ships them to the metrics service.

The request path only calls :meth:`UsageOutbox.submit`, which appends to an in-memory list and
returns. A background task moves pending events into a SQLite file (WAL), and another ships
the file's oldest rows to ``MetricsService.RecordUsage`` in batches, deleting them only once
the metrics service has acknowledged them. The metrics service deduplicates by record id, so a
batch shipped twice (crash between ack and delete) is stored once: at-least-once delivery,
exactly-once storage.

Bounded: beyond ``max_records`` waiting events, new events are dropped and counted in
``dropped``. Nothing is dropped below the bound. Rows the metrics service rejects as invalid
(INVALID_ARGUMENT) are moved to a ``rejected`` table instead of blocking the queue forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from llmrouter.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from .pbtime import duration, timestamp

__all__ = ["MAX_BATCH_BYTES", "OutboxStats", "UsageEvent", "UsageOutbox"]

# A RecordUsage request carries at most this many bytes of records (the metrics service
# receives up to 16 MiB by default), and the channel to it sends no more: a batch over the
# metrics service's limit would be refused, and retried, forever. A single record over it is
# set aside as rejected.
MAX_BATCH_BYTES = 4 * 1024 * 1024

log = logging.getLogger(__name__)

_STATUS = {
    "succeeded": metrics_service_pb2.USAGE_STATUS_SUCCEEDED,
    "failed": metrics_service_pb2.USAGE_STATUS_FAILED,
    "cancelled": metrics_service_pb2.USAGE_STATUS_CANCELLED,
}


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """What one attempt used and how it ended."""

    request_id: str
    attempt: int
    time: float
    provider: str
    model: str
    category: str
    task_type: str
    source: str
    api_key_id: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_s: float
    ttft_s: float | None
    status: str
    error_type: str
    fallback: bool
    fallback_from: str
    trace_id: str
    span_id: str = ""
    # The failure of the previous attempt that led to this one ("" for first attempts).
    fallback_reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    local: bool = False
    streamed: bool = False
    # The client's X-Request-Id: correlation only, never part of ``id``.
    client_request_id: str = ""

    @property
    def id(self) -> str:
        """Unique record id: the router-generated request id and the attempt number."""
        return f"{self.request_id}:{self.attempt}"


@dataclass(slots=True)
class OutboxStats:
    """Counters for operators and tests."""

    submitted: int = 0
    shipped: int = 0
    dropped: int = 0
    rejected: int = 0
    ship_failures: int = 0


def _to_record(event: UsageEvent) -> metrics_service_pb2.UsageRecord:
    record = metrics_service_pb2.UsageRecord(
        id=event.id,
        request_id=event.request_id,
        attempt=event.attempt,
        time=timestamp(event.time),
        provider=event.provider,
        model=event.model,
        category=event.category,
        task_type=event.task_type,
        source=event.source,
        api_key_id=event.api_key_id,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        total_tokens=event.prompt_tokens + event.completion_tokens,
        cost_usd=event.cost_usd,
        duration=duration(event.duration_s),
        status=_STATUS[event.status],
        error_type=event.error_type,
        fallback=event.fallback,
        fallback_from=event.fallback_from,
        trace_id=event.trace_id,
        span_id=event.span_id,
        metadata=event.metadata,
        local=event.local,
        streamed=event.streamed,
        client_request_id=event.client_request_id,
    )
    if event.ttft_s is not None:
        record.time_to_first_token.CopyFrom(duration(event.ttft_s))
    return record


class _Store:
    """The outbox file. All methods are blocking; the outbox calls them in a worker thread."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "id TEXT NOT NULL, record BLOB NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rejected (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, "
            "record BLOB NOT NULL, error TEXT NOT NULL, time REAL NOT NULL)"
        )

    def append(self, rows: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO outbox (id, record) VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    def oldest(self, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            cur = self._db.execute("SELECT seq, record FROM outbox ORDER BY seq LIMIT ?", (limit,))
            return list(cur.fetchall())

    def delete_through(self, seqs: list[int]) -> None:
        # ``seqs`` are the oldest rows, read in order by the only shipper: one range covers
        # exactly them (appends only ever get larger seqs).
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (min(seqs), max(seqs)))

    def reject(self, seq: int, error: str) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO rejected (seq, id, record, error, time) "
                "SELECT seq, id, record, ?, ? FROM outbox WHERE seq = ?",
                (error, time.time(), seq),
            )
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
            return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


Sleep = Callable[[float], Awaitable[None]]
# Opens the channel to the metrics service at an address (TLS and credentials are its business).
ChannelFactory = Callable[[str], grpc.aio.Channel]


# Pending events are written to the file in groups of at most about this many (or every flush
# interval): converting and storing a group runs on the event loop, and small groups keep that
# pause short for the requests waiting behind it.
_PERSIST_AT = 64


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
        sleep: Sleep = asyncio.sleep,
        channel: ChannelFactory = grpc.aio.insecure_channel,
    ) -> None:
        self._store = _Store(path)
        self._address = metrics_address
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_records = max_records
        self._rpc_timeout = rpc_timeout_s
        self._max_backoff = max_backoff_s
        self._sleep = sleep
        self._open_channel = channel
        self._pending: list[UsageEvent] = []
        self._persisting = 0
        self._stored = self._store.count()
        self._wake = asyncio.Event()
        self._stored_event = asyncio.Event()
        self._closing = False
        self._channel: grpc.aio.Channel | None = None
        self._stub: metrics_service_pb2_grpc.MetricsServiceStub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = OutboxStats()

    @property
    def depth(self) -> int:
        """Events waiting: in memory (queued or being written) plus in the file."""
        return len(self._pending) + self._persisting + self._stored

    def submit(self, event: UsageEvent) -> None:
        """Queue ``event``; never blocks, never raises. Drops (and counts) beyond the bound."""
        self.stats.submitted += 1
        if self.depth >= self._max_records:
            self.stats.dropped += 1
            return
        self._pending.append(event)
        if len(self._pending) >= _PERSIST_AT:
            self._wake.set()

    async def start(self) -> None:
        """Open the channel and start the background tasks (resuming any stored records)."""
        self._channel = self._open_channel(self._address)
        self._stub = metrics_service_pb2_grpc.MetricsServiceStub(self._channel)
        self._tasks = [
            asyncio.create_task(self._persist_loop(), name="usage-persist"),
            asyncio.create_task(self._ship_loop(), name="usage-ship"),
        ]
        if self._stored:
            self._stored_event.set()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Persist everything pending, try to ship it for up to ``timeout_s``, then stop.

        Whatever could not be shipped stays in the file and ships after the next start.
        """
        self._closing = True
        await self._persist_pending()
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

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything submitted so far is shipped (tests and shutdown)."""
        async with asyncio.timeout(timeout_s):
            while self.depth:
                self._wake.set()
                self._stored_event.set()
                await asyncio.sleep(0.01)

    async def _persist_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self._persist_pending()

    async def _persist_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        # Counted while the file write runs, so depth (and flush) never sees them as gone.
        self._persisting = len(batch)
        rows = [(e.id, _to_record(e).SerializeToString()) for e in batch]
        try:
            await asyncio.to_thread(self._store.append, rows)
        except sqlite3.Error:
            self._persisting = 0
            log.exception(
                "usage outbox: cannot write %d records; keeping them in memory", len(rows)
            )
            self._pending[:0] = batch
            return
        self._stored += len(rows)
        self._persisting = 0
        self._stored_event.set()

    async def _ship_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._stored_event.wait()
            if not self._stored:
                self._stored_event.clear()
                continue
            if await self._ship_once():
                backoff = 0.05
                continue
            self.stats.ship_failures += 1
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
            self.stats.rejected += 1
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
        self.stats.shipped += len(rows)
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
                self.stats.rejected += 1
            else:
                await asyncio.to_thread(self._store.delete_through, [seq])
                self.stats.shipped += 1
            self._stored = max(self._stored - 1, 0)
