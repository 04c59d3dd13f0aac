"""The outbox file: a SQLite (WAL) queue of serialised usage records, and the rejected ones."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["OutboxStore"]


class OutboxStore:
    """The outbox file. All methods are blocking; the outbox calls them in a worker thread."""

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

    def append(self, rows: list[tuple[str, bytes]]) -> None:
        """Store ``rows`` of (record id, serialised record) in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO outbox (id, record) VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

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

    def count(self) -> int:
        """Rows waiting to be shipped."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
