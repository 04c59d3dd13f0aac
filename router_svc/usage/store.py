"""The outbox file: a SQLite (WAL) queue of serialised usage records, the rejected ones, and the
events that could not be made records (``dead_letter``, see :mod:`.dead_letter`)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .dead_letter import DeadLetter

__all__ = ["OutboxStore"]

log = logging.getLogger(__name__)

_INSERT = "INSERT INTO outbox (id, record) VALUES (?, ?)"
# What a statement reports when another connection holds the file's write lock (primary result
# codes: the low byte of an extended one, such as SQLITE_BUSY_SNAPSHOT).
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class OutboxStore:
    """The outbox file. All methods but :meth:`append_nowait` may block; the outbox calls them
    in a worker thread."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit appends to the WAL with a write() and no fsync
        # (only checkpoints fsync). The OS holds what was written, so a killed router loses
        # nothing; a power loss or kernel crash may lose the last commits but never corrupts
        # the file. FULL would fsync every commit, which is what a power loss needs and costs
        # a disk flush per group commit on the answer's path.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "id TEXT NOT NULL, record BLOB NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rejected (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, "
            "record BLOB NOT NULL, error TEXT NOT NULL, time REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letter (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "id TEXT NOT NULL, event TEXT NOT NULL, error TEXT NOT NULL, time REAL NOT NULL)"
        )
        # A second connection for commits made on the event loop: it never waits for a lock
        # (timeout 0: a busy file is reported at once and the commit moves to a thread) and
        # never checkpoints (a checkpoint copies the WAL into the file, which may take long;
        # :meth:`checkpoint` does it in a thread).
        self._fast: sqlite3.Connection | None = None
        if path != ":memory:":
            self._fast = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=0
            )
            self._fast.execute("PRAGMA synchronous=NORMAL")
            self._fast.execute("PRAGMA wal_autocheckpoint=0")

    def append(self, rows: list[tuple[str, bytes]], dead: Sequence[DeadLetter] = ()) -> None:
        """Store ``rows`` of (record id, serialised record), and the ``dead`` letters, in one
        transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                _insert(self._db, rows, dead)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled it back itself
                    self._db.execute("ROLLBACK")
                raise

    def append_nowait(self, rows: list[tuple[str, bytes]], dead: Sequence[DeadLetter] = ()) -> bool:
        """Store ``rows`` and ``dead`` in one transaction without waiting for any lock: False
        (nothing stored) when the file is busy, so the caller can commit in a thread instead.

        Cheap enough for the event loop: an INSERT and a commit, which in WAL with
        ``synchronous=NORMAL`` is a ``write()`` to the OS and no fsync (about 20 µs here).
        """
        fast = self._fast
        if fast is None or not self._lock.acquire(blocking=False):
            return False
        try:
            if len(rows) == 1 and not dead:
                # One statement is a transaction of its own: no BEGIN and COMMIT to run.
                try:
                    fast.execute(_INSERT, rows[0])
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF in _BUSY:
                        return False  # nothing stored
                    raise
                return True
            try:
                fast.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return False  # another connection holds the write lock
            try:
                _insert(fast, rows, dead)
                fast.execute("COMMIT")
            except BaseException:
                if fast.in_transaction:
                    fast.execute("ROLLBACK")
                raise
        finally:
            self._lock.release()
        return True

    def checkpoint(self) -> None:
        """Copy the WAL into the file (PASSIVE: never waits for readers or writers)."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # closed meanwhile, or busy: the next one will do
                log.warning("usage outbox: WAL checkpoint failed: %s", exc)

    def oldest(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` of the oldest (seq, serialised record) rows."""
        with self._lock:
            cur = self._db.execute("SELECT seq, record FROM outbox ORDER BY seq LIMIT ?", (limit,))
            return list(cur.fetchall())

    def delete_through(self, seqs: list[int]) -> None:
        """Delete the shipped rows ``seqs``."""
        # ``seqs`` are the oldest rows, read in order by the only shipper: one range covers
        # exactly them (appends only ever get larger seqs).
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (min(seqs), max(seqs)))

    def reject(self, seq: int, error: str) -> None:
        """Move row ``seq`` to the rejected table with ``error``."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO rejected (seq, id, record, error, time) "
                "SELECT seq, id, record, ?, ? FROM outbox WHERE seq = ?",
                (error, time.time(), seq),
            )
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first: (record id, event JSON, error, time)."""
        with self._lock:
            cur = self._db.execute("SELECT id, event, error, time FROM dead_letter ORDER BY seq")
            return list(cur.fetchall())

    def count(self) -> int:
        """Rows waiting to be shipped."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fast is not None:
                self._fast.close()
            self._db.close()


def _insert(
    db: sqlite3.Connection, rows: list[tuple[str, bytes]], dead: Sequence[DeadLetter]
) -> None:
    """Insert ``rows`` into the outbox and ``dead`` into the dead letters (in the caller's
    transaction)."""
    db.executemany(_INSERT, rows)
    if dead:
        db.executemany("INSERT INTO dead_letter (id, event, error, time) VALUES (?, ?, ?, ?)", dead)
