"""The durability barrier: answers wait until their usage records are in the outbox file,
concurrent answers share one transaction (group commit), and a stuck file never holds an
answer longer than the timeout.

The file is a real SQLite file; a second connection holding its write lock is how a slow or
stuck disk looks to the outbox (its INSERT waits for the lock)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from llmrouter.serving import GrpcServer
from router_svc.usage import UsageOutbox
from router_svc.usage.dead_letter import DeadLetter
from router_svc.usage.store import OutboxStore
from router_svc.usage.writer import OutboxWriter

from .conftest import FakeMetrics, wait_for
from .test_outbox import event


def rows_in(path: Path) -> set[str]:
    """Record ids in the outbox file, read over a connection of our own."""
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM outbox")}


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Hold the file's write lock (WAL: BEGIN IMMEDIATE) until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def outbox_at(path: Path, metrics_port: int, **options: float) -> UsageOutbox:
    # A flush interval far beyond the test: only barriers write to the file.
    return UsageOutbox(str(path), f"127.0.0.1:{metrics_port}", flush_interval_s=60.0, **options)


async def answer(outbox: UsageOutbox, n: int) -> None:
    """What the engine does per request: record, then wait for the barrier."""
    outbox.submit(event(n))
    await outbox.durable()


async def test_concurrent_answers_share_one_transaction(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    metrics, server = fake_metrics
    metrics.fail_with = grpc.StatusCode.UNAVAILABLE  # keep rows in the file to look at them
    path = tmp_path / "o.sqlite3"
    outbox = outbox_at(path, server.port)
    await outbox.start()
    try:
        await asyncio.gather(*(answer(outbox, n) for n in range(20)))
        # Every barrier returned with its record on file, all in one transaction.
        assert rows_in(path) == {f"req-{n}:1" for n in range(20)}
        assert outbox.stats.commits == 1

        # The next burst: one more transaction, again all on file.
        await asyncio.gather(*(answer(outbox, n) for n in range(20, 30)))
        assert len(rows_in(path)) == 30
        assert outbox.stats.commits == 2
        assert outbox.stats.not_durable == 0
    finally:
        await outbox.close(timeout_s=0)


async def test_answers_arriving_during_a_commit_share_the_next_one(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    metrics, server = fake_metrics
    metrics.fail_with = grpc.StatusCode.UNAVAILABLE
    path = tmp_path / "o.sqlite3"
    outbox = outbox_at(path, server.port, durable_timeout_s=5.0)
    await outbox.start()
    try:
        with write_locked(path):
            first = asyncio.create_task(answer(outbox, 0))
            await asyncio.sleep(0.1)  # its transaction is now waiting for the lock
            later = [asyncio.create_task(answer(outbox, n)) for n in range(1, 11)]
            await asyncio.sleep(0.1)
            assert not first.done()
            assert not any(t.done() for t in later)
        await asyncio.wait_for(asyncio.gather(first, *later), 5)
        assert rows_in(path) == {f"req-{n}:1" for n in range(11)}
        assert outbox.stats.commits == 2  # the first record's, then the ten that waited
    finally:
        await outbox.close(timeout_s=0)


async def test_a_stuck_file_holds_answers_only_until_the_timeout(
    tmp_path: Path,
    fake_metrics: tuple[FakeMetrics, GrpcServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics, server = fake_metrics
    path = tmp_path / "o.sqlite3"
    outbox = outbox_at(path, server.port, durable_timeout_s=0.2)
    await outbox.start()
    try:
        with caplog.at_level(logging.WARNING), write_locked(path):
            began = time.monotonic()
            await answer(outbox, 0)
            waited = time.monotonic() - began
            assert 0.15 < waited < 1.0
            # While the file is stuck, answers no longer wait at all.
            began = time.monotonic()
            await asyncio.gather(*(answer(outbox, n) for n in range(1, 6)))
            assert time.monotonic() - began < 0.1
            assert outbox.stats.not_durable == 6
            assert outbox.depth == 6  # nothing lost: in memory
        assert [r.message for r in caplog.records].count(
            "usage outbox: the file took no records within 200 ms; answering without waiting "
            "(records kept in memory) until it does"
        ) == 1
        # The file takes the stuck group once the lock is gone; answers wait for it again.
        await wait_for(lambda: outbox.stats.commits >= 1)
        await answer(outbox, 6)
        assert outbox.stats.not_durable == 6
        await outbox.flush()
        assert sorted(metrics.records) == sorted(f"req-{n}:1" for n in range(7))
    finally:
        await outbox.close(timeout_s=0)


async def test_with_the_wait_off_answers_never_wait_and_nothing_is_counted(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    metrics, server = fake_metrics
    path = tmp_path / "o.sqlite3"
    outbox = outbox_at(path, server.port, durable_timeout_s=0.0)
    await outbox.start()
    try:
        await asyncio.gather(*(answer(outbox, n) for n in range(5)))
        # outbox_durable_timeout_ms = 0 promises no durability: no answer missed one.
        assert outbox.stats.not_durable == 0
        assert outbox.depth == 5  # still queued for the next flush interval
        await outbox.flush()
        assert sorted(metrics.records) == sorted(f"req-{n}:1" for n in range(5))
    finally:
        await outbox.close(timeout_s=0)


class FailsOnce(OutboxStore):
    """The real outbox file, whose next write fails once with an error that is not SQLite's
    (as an OS or runtime error from the layers around it would)."""

    failures = 1

    def append_nowait(self, rows: list[tuple[str, bytes]], dead: Sequence[DeadLetter] = ()) -> bool:
        if self.failures:
            self.failures -= 1
            raise OSError("disk went away for a moment")
        return super().append_nowait(rows, dead)


async def test_a_write_failing_with_any_error_keeps_its_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.sqlite3"
    stored: list[int] = []
    writer = OutboxWriter(
        FailsOnce(str(path)), interval_s=60.0, durable_timeout_s=1.0, on_stored=stored.append
    )
    for n in range(3):
        writer.add(event(n))
    with caplog.at_level(logging.ERROR):
        await writer.persist()  # fails: the group goes back, logged
    assert writer.waiting == 3
    assert "usage outbox: cannot write 3 records; keeping them in memory" in caplog.text
    await writer.persist()
    assert writer.waiting == 0
    assert rows_in(path) == {f"req-{n}:1" for n in range(3)}
    assert stored == [3]
