"""The evaluation samples of the admin store: answers waiting for the judge.

Written by :mod:`router_svc.evaluation` (a background writer inserts what the request path
sampled; the job claims, grades and deletes). Replicas sharing the store claim rows with a
lease: the claim runs in one transaction that takes the rows (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite) and stamps them with the claimant's
id and ``claimed_until``; every later change of a row names that claim, so a replica whose
lease ran out cannot delete or re-grade a row another replica took since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .tables import eval_samples

__all__ = ["EvalSamples", "NewSample", "StoredSample"]

_T = eval_samples.c


@dataclass(frozen=True, slots=True)
class NewSample:
    """A sampled answer to store: the conversation as JSON text and the answer's text."""

    request_id: str
    model: str
    category: str
    create_time: datetime
    messages_json: str
    answer: str


@dataclass(frozen=True, slots=True)
class StoredSample:
    """A claimed sample. ``score`` is set (and the content empty) when it was graded but the
    grade has not reached the metrics service yet."""

    id: int
    request_id: str
    model: str
    category: str
    create_time: datetime
    messages_json: str
    answer: str
    attempts: int
    score: float | None
    raw_score: float | None
    label: str


class EvalSamples:
    """Rows of ``admin_eval_samples`` over the admin store's engine.

    Every method raises the store's errors as :class:`~.store.AdminStoreError` through
    ``errors`` (the store's own error mapping), never a driver exception.
    """

    def __init__(self, engine: AsyncEngine, errors: Callable[[str], Any]) -> None:
        self._engine = engine
        self._errors = errors
        self._postgres = engine.dialect.name == "postgresql"

    def _writing(self) -> Any:
        # SQLite: BEGIN IMMEDIATE (router_svc.admin_store.store), so a claim's read and write
        # are one step for every process on the file.
        return self._engine.execution_options(immediate=True).begin()

    async def add(self, samples: Sequence[NewSample], max_pending: int) -> int:
        """Store ``samples`` while fewer than ``max_pending`` are stored; returns how many were
        (replicas adding at the same moment on PostgreSQL may pass the bound by a batch)."""
        if not samples:
            return 0
        with self._errors("cannot store evaluation samples"):
            async with self._writing() as conn:
                stored = int(await conn.scalar(select(func.count()).select_from(eval_samples)) or 0)
                room = max(max_pending - stored, 0)
                kept = samples[:room]
                if kept:
                    await conn.execute(
                        insert(eval_samples),
                        [
                            {
                                "request_id": s.request_id,
                                "model": s.model,
                                "category": s.category,
                                "create_time": s.create_time,
                                "messages_json": s.messages_json,
                                "answer": s.answer,
                                "claimed_until": None,
                                "claim_id": None,
                                "attempts": 0,
                                "last_error": "",
                                "score": None,
                                "raw_score": None,
                                "label": None,
                            }
                            for s in kept
                        ],
                    )
        return len(kept)

    async def claim(
        self, claim_id: str, limit: int, after_id: int, now: datetime, lease_s: float
    ) -> list[StoredSample]:
        """Take up to ``limit`` samples with an id above ``after_id`` that nobody holds (or
        whose holder's lease ended), oldest first, for ``lease_s`` seconds as ``claim_id``."""
        free = or_(_T.claimed_until.is_(None), _T.claimed_until < now)
        query = (
            select(eval_samples).where(_T.id > after_id, free).order_by(_T.id).limit(max(limit, 1))
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        with self._errors("cannot claim evaluation samples"):
            async with self._writing() as conn:
                rows = (await conn.execute(query)).all()
                if rows:
                    await conn.execute(
                        update(eval_samples)
                        .where(_T.id.in_([r.id for r in rows]))
                        .values(claimed_until=now + timedelta(seconds=lease_s), claim_id=claim_id)
                    )
        return [
            StoredSample(
                id=int(r.id),
                request_id=r.request_id,
                model=r.model,
                category=r.category,
                create_time=_utc(r.create_time),
                messages_json=r.messages_json,
                answer=r.answer,
                attempts=int(r.attempts),
                score=None if r.score is None else float(r.score),
                raw_score=None if r.raw_score is None else float(r.raw_score),
                label=r.label or "",
            )
            for r in rows
        ]

    async def delete(self, sample_id: int, claim_id: str) -> bool:
        """Delete a sample this claim holds (graded and delivered, or given up)."""
        where = (_T.id == sample_id) & (_T.claim_id == claim_id)
        with self._errors("cannot delete an evaluation sample"):
            async with self._writing() as conn:
                result = await conn.execute(delete(eval_samples).where(where))
        return bool(result.rowcount)

    async def failed(self, sample_id: int, claim_id: str, error: str, max_attempts: int) -> bool:
        """Count a failed try and let the sample go for a later run; past ``max_attempts``
        tries it is deleted instead. Returns True when it was deleted."""
        where = (_T.id == sample_id) & (_T.claim_id == claim_id)
        with self._errors("cannot update an evaluation sample"):
            async with self._writing() as conn:
                attempts = await conn.scalar(select(_T.attempts).where(where))
                if attempts is None:
                    return False
                if int(attempts) + 1 >= max_attempts:
                    await conn.execute(delete(eval_samples).where(where))
                    return True
                await conn.execute(
                    update(eval_samples)
                    .where(where)
                    .values(
                        attempts=int(attempts) + 1,
                        last_error=error,
                        claimed_until=None,
                        claim_id=None,
                    )
                )
        return False

    async def undelivered(
        self,
        sample_id: int,
        claim_id: str,
        *,
        score: float,
        raw_score: float,
        label: str,
        error: str,
    ) -> None:
        """Keep the grade of a sample the metrics service did not take, without its content,
        for a later run to send again."""
        where = (_T.id == sample_id) & (_T.claim_id == claim_id)
        with self._errors("cannot update an evaluation sample"):
            async with self._writing() as conn:
                await conn.execute(
                    update(eval_samples)
                    .where(where)
                    .values(
                        messages_json="",
                        answer="",
                        score=score,
                        raw_score=raw_score,
                        label=label,
                        last_error=error,
                        claimed_until=None,
                        claim_id=None,
                    )
                )

    async def release(self, sample_ids: Sequence[int], claim_id: str) -> None:
        """Let samples this claim holds go untouched (a run stopped before grading them)."""
        if not sample_ids:
            return
        where = _T.id.in_(list(sample_ids)) & (_T.claim_id == claim_id)
        with self._errors("cannot update an evaluation sample"):
            async with self._writing() as conn:
                await conn.execute(
                    update(eval_samples).where(where).values(claimed_until=None, claim_id=None)
                )

    async def purge(self, before: datetime | None = None) -> int:
        """Delete every sample created before ``before`` (None: every sample); returns how
        many."""
        statement = delete(eval_samples)
        if before is not None:
            statement = statement.where(_T.create_time < before)
        with self._errors("cannot delete evaluation samples"):
            async with self._writing() as conn:
                result = await conn.execute(statement)
        deleted = int(result.rowcount or 0)
        if deleted:
            await self.scrub()
        return deleted

    async def scrub(self) -> None:
        """SQLite: move the write-ahead log into the database file and empty it, so that the
        content of deleted samples (zeroed in the file: ``secure_delete``) is not left in the
        log either. Best effort (a reader of another process may hold the log); nothing on
        PostgreSQL, where deleted rows go at the next VACUUM."""
        if self._postgres:
            return
        with self._errors("cannot checkpoint the admin store"):
            async with self._engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def pending(self) -> int:
        """How many samples are stored (claimed or not)."""
        with self._errors("cannot count evaluation samples"):
            async with self._engine.connect() as conn:
                found = await conn.scalar(select(func.count()).select_from(eval_samples))
        return int(found or 0)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
