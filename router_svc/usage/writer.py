"""Group commit of usage events into the outbox file, and the durability barrier.

The request path calls :meth:`OutboxWriter.add` (never blocks) for each record, then, before
its answer's last byte goes out, awaits :meth:`OutboxWriter.durable`: it returns once every
record added so far is in the file. Concurrent requests share one SQLite transaction: every
barrier reached before the loop's next turn is served by one ``INSERT`` transaction of *all*
pending records, made on the event loop when the file is free (a ``write()`` to the OS, ~20 µs:
cheaper than a hop to a thread), else by the writer task in a worker thread (the file is busy:
a lock held elsewhere, a checkpoint); records added while a transaction runs go into the next
one. So the cost is one transaction per burst of answers, not one per record.

Durability is against a process kill, not a power loss: the file is WAL with
``synchronous=NORMAL`` (see :mod:`.store`), so a commit is a ``write()`` to the OS, which
survives the process. Bounded: a barrier waits at most ``durable_timeout_s`` for a file that is
busy or failing, then lets answers go out at once (the records stay in memory and are written
when the file takes them), counted in ``not_durable`` and logged once per episode. What the
bound cannot cover: a commit made on the loop is a ``write()`` nothing can interrupt, so a disk
that stalls that ``write()`` stalls the loop with it (the timeout bounds lock contention and
commits in the thread, not a stalled ``write()`` on the loop).

One record never holds the others back: each event of a group is converted on its own, and one
that cannot be (:func:`~.records.to_record` refuses it) is written to the file's dead letters
in the same transaction as the rest (:mod:`.dead_letter`), so it is durable and its barrier is
released like theirs. Once converted, a group is ids and bytes, which the file takes or refuses
as a whole: a failing file keeps every record in memory, as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from .dead_letter import DeadLetter, dead_letter_row
from .event import UsageEvent
from .records import to_record
from .store import OutboxStore

__all__ = ["OutboxWriter", "WriterStats"]

log = logging.getLogger(__name__)

# Pending events are written in groups of at most about this many even with no barrier
# waiting: converting a group runs on the event loop, and small groups keep that pause short.
_PERSIST_AT = 64


# Commits between two WAL checkpoints (run in a thread).
_CHECKPOINT_EVERY = 256


class WriterStats:
    """Counters of the writer (read by the outbox's stats)."""

    __slots__ = ("commits", "dead_letters", "not_durable")

    def __init__(self) -> None:
        # Transactions that wrote records to the file.
        self.commits = 0
        # Answers that went out before their records were in the file (file late or failing).
        self.not_durable = 0
        # Events that could not be made records, written to the dead letters instead.
        self.dead_letters = 0


class OutboxWriter:
    """Moves added events into the outbox file in group commits; see the module docstring."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        interval_s: float,
        durable_timeout_s: float,
        on_stored: Callable[[int], None],
    ) -> None:
        self._store = store
        self._interval = interval_s
        self._durable_timeout = durable_timeout_s
        self._on_stored = on_stored
        self._pending: list[UsageEvent] = []
        self._persisting = 0
        # Events added so far, and how many of the earliest of them are in the file: the
        # pending list is FIFO and a failed group goes back to its front, so ``_written`` is a
        # watermark over ``_added``.
        self._added = 0
        self._written = 0
        # Barriers waiting, each for the watermark to reach its target (targets ascending).
        self._waiters: deque[tuple[int, asyncio.Future[bool]]] = deque()
        # Set while the file is late or failing: barriers do not wait until a group commits.
        self._degraded = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._checkpoint: asyncio.Future[None] | None = None
        # A group commit is scheduled for the loop's next turn.
        self._soon = False
        # Bounds the barriers waiting for the writer thread (None: none armed).
        self._timer: asyncio.TimerHandle | None = None
        self.stats = WriterStats()

    @property
    def waiting(self) -> int:
        """Events not yet in the file: pending plus the group being written."""
        return len(self._pending) + self._persisting

    def add(self, event: UsageEvent) -> None:
        """Queue ``event`` for the next group; never blocks."""
        self._pending.append(event)
        self._added += 1
        if len(self._pending) >= _PERSIST_AT:
            self._wake.set()

    def wake(self) -> None:
        """Write what is pending now instead of at the next interval."""
        self._wake.set()

    async def durable(self) -> None:
        """Return once every event added so far is in the file, or after ``durable_timeout_s``
        (or at once while the file is late or failing); never raises."""
        target = self._added
        if self._written >= target:
            return
        if self._durable_timeout <= 0:
            return  # the wait is off: no answer is promised durability, none is counted
        if self._degraded:
            self.stats.not_durable += 1
            return
        loop = asyncio.get_running_loop()
        if not self._soon:
            # One group commit for every barrier reached before the loop comes round to it.
            self._soon = True
            loop.call_soon(self._commit_soon)
        # The commit was queued before this task's next step, so it has run when the task
        # resumes: a barrier the commit met costs one turn of the loop, no future of its own.
        await asyncio.sleep(0)
        if self._written >= target:
            return
        if self._degraded:  # the commit failed
            self.stats.not_durable += 1
            return
        # The file was busy: the writer task commits in a thread. No timer per barrier: one
        # bounds the wait of every barrier then waiting.
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append((target, waiter))
        if self._timer is None:
            self._timer = loop.call_later(self._durable_timeout, self._late)
        if not await waiter:
            self.stats.not_durable += 1

    async def run(self) -> None:
        """Write pending events whenever woken, or every interval (runs until cancelled)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.persist()

    def _commit_soon(self) -> None:
        """Commit what the barriers reached so far need on the loop when the file is free now
        (no task switch, no thread); else leave it to the writer task."""
        self._soon = False
        if self._lock.locked() or not self._commit_inline():
            self._wake.set()

    def _late(self) -> None:
        """The file took no records within the timeout: release every barrier waiting (their
        answers go out without it) and stop waiting until a commit succeeds."""
        self._timer = None
        if not self._waiters:
            return
        if not self._degraded:
            self._degraded = True
            log.warning(
                "usage outbox: the file took no records within %.0f ms; answering without "
                "waiting (records kept in memory) until it does",
                self._durable_timeout * 1000,
            )
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)

    def _commit_inline(self) -> bool:
        """Write everything pending in one transaction on the loop, if the file is free now
        (the caller checked that no group is being written); False when it is busy."""
        batch = self._pending
        if not batch:
            return True
        try:
            rows, dead = _rows(batch)
            if not self._store.append_nowait(rows, dead):
                return False
        except Exception:  # sqlite3.Error, or anything else: the records stay pending
            log.exception("usage outbox: cannot write %d records; keeping them", len(batch))
            self._degrade()
            return False
        self._pending = []
        self._committed(len(batch), len(rows), dead)
        return True

    async def persist(self) -> None:
        """Write everything pending now in one transaction (one group at a time)."""
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            # Counted while the file write runs, so depth (and flush) never sees them as gone.
            self._persisting = len(batch)
            try:
                rows, dead = _rows(batch)
                # On the loop when the file is free (a write() to the OS, ~20 µs: far less
                # than a hop to a thread and back); in a thread when it is busy, so a lock
                # held elsewhere never stalls the loop.
                if not self._store.append_nowait(rows, dead):
                    await asyncio.to_thread(self._store.append, rows, dead)
            except Exception:  # sqlite3.Error, or anything else: the batch is never lost
                self._persisting = 0
                self._pending[:0] = batch
                log.exception(
                    "usage outbox: cannot write %d records; keeping them in memory", len(batch)
                )
                self._degrade()
                return
            self._persisting = 0
            self._committed(len(batch), len(rows), dead)

    def _committed(self, count: int, stored: int, dead: list[DeadLetter]) -> None:
        """``count`` more of the earliest pending events are in the file, ``stored`` of them
        as records to ship and ``dead`` as dead letters: count them, wake the shipper and the
        barriers they complete."""
        self._written += count
        self.stats.commits += 1
        for record_id, _, error, _ in dead:
            log.error(
                "usage outbox: the usage record %s cannot be built (%s); kept in the dead "
                "letters of the outbox file",
                record_id,
                error,
            )
        self.stats.dead_letters += len(dead)
        if self.stats.commits % _CHECKPOINT_EVERY == 0:
            # Commits on the loop never checkpoint; keep the WAL short from a thread.
            self._checkpoint = asyncio.ensure_future(asyncio.to_thread(self._store.checkpoint))
        if stored:
            self._on_stored(stored)
        if self._degraded:
            self._degraded = False
            log.warning("usage outbox: the file takes records again; answers wait for it")
        self._release()

    def _release(self) -> None:
        """Resolve the barriers whose records are all in the file."""
        while self._waiters and self._waiters[0][0] <= self._written:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
        if not self._waiters and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _degrade(self) -> None:
        """The file failed: release every barrier (their answers go out without it)."""
        if not self._degraded:
            self._degraded = True
            log.warning("usage outbox: answering without waiting for the file until it recovers")
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)


def _rows(batch: list[UsageEvent]) -> tuple[list[tuple[str, bytes]], list[DeadLetter]]:
    """The outbox rows (record id, serialised record) of ``batch``, and the dead letters of
    the events that cannot be made records (one by one: one bad event spoils no other)."""
    rows: list[tuple[str, bytes]] = []
    dead: list[DeadLetter] = []
    for event in batch:
        try:
            rows.append((event.id, to_record(event).SerializeToString()))
        except Exception as exc:  # whatever it is, this event alone is kept apart
            dead.append(dead_letter_row(event, exc))
    return rows, dead
