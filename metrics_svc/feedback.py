"""Feedback: scores of answers, one per (request id, source), as plain values, and the
statements that store, list and sum them.

A score names the router's request id; what was scored (model, category, deployment) and who
asked (key, team) come from that request's *serving* usage record: its succeeded attempt, else
its last one. A repeat of (request id, source) replaces the earlier score.

Every stored or replaced score takes the next ``sequence``: :func:`list_feedback` pages by it,
so a follower (the router's quality estimates) that remembers the last sequence it saw also
sees replacements. Writes are serialised (PostgreSQL: a transaction-scoped advisory lock;
SQLite: ``BEGIN IMMEDIATE``), so sequences commit in order and a follower never skips one that
commits late. Feedback arrives at human rates (or an evaluation job's); one writer at a time
costs nothing there.

The same transaction keeps ``feedback_stats``, the sums per model x category x source kind of
each request's *contribution*: one answer is one sample per source kind, so a request
contributes at most one user-kind score and at most one judge-kind score, its latest of each
kind (highest sequence). When another source of the same kind scores the request (or a source
scores it again), the earlier contribution is taken out and the new one put in: thirty user
sources on one answer are one sample, and several judges of one answer count once. Every score
is still stored (ListFeedback lists them all). QueryQuality reads those few rows, exact under
replacements, instead of summing every score on each router's poll.

Feedback scores chat answers: a request whose serving record is an embedding (``front_door``
"embeddings", which the router's Embed RPC always records) is refused
(:class:`FeedbackNotAnswer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import case, func, insert, literal_column, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from metrics_svc.errors import FeedbackNotAnswer, FeedbackNotFound, FeedbackNotOwner
from metrics_svc.records import FeedbackScale, UsageStatus
from metrics_svc.tables import feedback, feedback_stats, usage_records

__all__ = [
    "EMBEDDINGS_FRONT_DOOR",
    "JUDGE_PREFIX",
    "FeedbackCaller",
    "FeedbackInput",
    "QualityStats",
    "StoredFeedback",
    "list_feedback",
    "quality_stats",
    "record_feedback",
    "source_kind",
]

#: Sources of evaluation judges start with this ("judge:<model>"); every other is a user's.
#: Stored in lower case (:mod:`metrics_svc.translate_feedback` lowers a "JUDGE:" prefix).
JUDGE_PREFIX: Final = "judge:"
#: ``usage_records.front_door`` of embedding requests (router_svc.embeddings): no answer to score.
EMBEDDINGS_FRONT_DOOR: Final = "embeddings"

# Key of the PostgreSQL advisory lock serialising feedback writes ("llmrouter-feedback" as a
# 64-bit number; distinct from the migration lock's).
_PG_LOCK_KEY: Final = 0x6C6C6D66656564


def source_kind(source: str) -> str:
    """``judge`` for an evaluation judge's source, ``user`` for any other."""
    return "judge" if source.startswith(JUDGE_PREFIX) else "user"


@dataclass(frozen=True, slots=True)
class FeedbackInput:
    """A score as a caller gives it, already validated (:mod:`metrics_svc.translate_feedback`)."""

    request_id: str
    #: "user", "judge:<model>" or a caller's tag (1-64 characters of [A-Za-z0-9._:-]).
    source: str
    #: In [0, 1], from ``raw_score`` on ``scale``.
    score: float
    scale: FeedbackScale
    raw_score: float
    label: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class FeedbackCaller:
    """Whose requests a caller may score: those made with ``api_key_id``, or by ``team_id``'s
    keys; both empty: any request (admin keys, judges)."""

    api_key_id: str = ""
    team_id: str = ""

    def may_score(self, api_key_id: str, team_id: str) -> bool:
        """Whether a request made with ``api_key_id`` (of ``team_id``) is the caller's."""
        if not self.api_key_id and not self.team_id:
            return True
        if self.api_key_id and api_key_id == self.api_key_id:
            return True
        return bool(self.team_id) and team_id == self.team_id


@dataclass(frozen=True, slots=True)
class StoredFeedback:
    """One stored score (a ``feedback`` row)."""

    request_id: str
    source: str
    score: float
    scale: FeedbackScale
    raw_score: float
    label: str
    comment: str
    model: str
    category: str
    api_key_id: str
    team_id: str
    deployment: str
    #: When it was stored or last replaced (UTC).
    time: datetime
    sequence: int


@dataclass(frozen=True, slots=True)
class QualityStats:
    """The scores of one model in one category from one kind of source."""

    model: str
    category: str
    #: ``user`` or ``judge`` (:func:`source_kind`).
    source_kind: str
    count: int
    score_sum: float
    score_sum_squares: float
    last_time: datetime | None


# The serving attempt first: a succeeded one, else the highest attempt number.
_SERVING_ORDER = (
    case((usage_records.c.status == UsageStatus.SUCCEEDED.value, 0), else_=1),
    usage_records.c.attempt.desc(),
)
# What a score takes from the serving record (``front_door``: to refuse embeddings).
# ``deployment`` arrives with the deployments revision of usage_records; until then every
# score has "" there.
_SERVED_COLUMNS = tuple(
    usage_records.c[name]
    for name in ("model", "category", "api_key_id", "team_id", "deployment", "front_door")
    if name in usage_records.c
)


async def record_feedback(
    engine: AsyncEngine, given: FeedbackInput, caller: FeedbackCaller, now: datetime
) -> tuple[StoredFeedback, bool]:
    """Store ``given`` at ``now``; returns the stored row and whether it replaced one.

    Raises :class:`FeedbackNotFound` when the request has no usage record,
    :class:`FeedbackNotOwner` when ``caller`` may not score it and :class:`FeedbackNotAnswer`
    when it is an embedding request.
    """
    async with engine.begin() as conn:
        await _lock(conn)
        served_stmt = (
            select(*_SERVED_COLUMNS)
            .where(usage_records.c.request_id == given.request_id)
            .order_by(*_SERVING_ORDER)
            .limit(1)
        )
        served = (await conn.execute(served_stmt)).mappings().first()
        if served is None:
            raise FeedbackNotFound(given.request_id)
        if not caller.may_score(served["api_key_id"], served["team_id"]):
            raise FeedbackNotOwner(given.request_id)
        if served.get("front_door", "") == EMBEDDINGS_FRONT_DOOR:
            raise FeedbackNotAnswer(given.request_id)
        kind = source_kind(given.source)
        # The request's scores of this kind (a handful at most): the one with the highest
        # sequence is the request's contribution to the sums, until this score replaces it.
        scored = (
            (
                await conn.execute(
                    select(
                        feedback.c.source,
                        feedback.c.model,
                        feedback.c.category,
                        feedback.c.score,
                        feedback.c.sequence,
                    ).where(feedback.c.request_id == given.request_id)
                )
            )
            .mappings()
            .all()
        )
        same_kind = [row for row in scored if source_kind(row["source"]) == kind]
        contribution = max(same_kind, key=lambda row: row["sequence"], default=None)
        replaced = any(row["source"] == given.source for row in scored)
        key = (feedback.c.request_id == given.request_id) & (feedback.c.source == given.source)
        sequence = (
            await conn.execute(select(func.coalesce(func.max(feedback.c.sequence), 0) + 1))
        ).scalar_one()
        values: dict[str, Any] = {
            "score": given.score,
            "scale": given.scale.value,
            "raw_score": given.raw_score,
            "label": given.label,
            "comment": given.comment,
            "model": served["model"],
            "category": served["category"],
            "api_key_id": served["api_key_id"],
            "team_id": served["team_id"],
            "deployment": served.get("deployment") or "",
            "time": now,
            "sequence": int(sequence),
        }
        if replaced:
            await conn.execute(update(feedback).where(key).values(values))
        else:
            await conn.execute(
                insert(feedback).values(request_id=given.request_id, source=given.source, **values)
            )
        # The new score has the highest sequence: it is the request's contribution now.
        if contribution is not None:
            await _add_to_stats(
                conn,
                contribution["model"],
                contribution["category"],
                kind,
                -1,
                contribution["score"],
                None,
            )
        await _add_to_stats(conn, served["model"], served["category"], kind, 1, given.score, now)
    stored = StoredFeedback(
        request_id=given.request_id, source=given.source, **{**values, "scale": given.scale}
    )
    return stored, replaced


async def list_feedback(engine: AsyncEngine, after: int, size: int) -> list[StoredFeedback]:
    """At most ``size`` scores with a sequence above ``after``, in sequence order."""
    stmt = (
        select(feedback)
        .where(feedback.c.sequence > after)
        .order_by(feedback.c.sequence)
        .limit(size)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [_stored(row) for row in rows]


def _kind_of(table: Any) -> Any:
    """``source_kind`` in SQL for ``table``'s rows (the feedback table or an alias of it).

    CASE on literals, not bound parameters: PostgreSQL groups by the select's expression only
    when the GROUP BY one is the same text, and two binds of one value are two parameters."""
    return case(
        (
            func.substr(table.c.source, 1, len(JUDGE_PREFIX))
            == literal_column(f"'{JUDGE_PREFIX}'"),
            literal_column("'judge'"),
        ),
        else_=literal_column("'user'"),
    )


_KIND = _kind_of(feedback)
# The sequences of the requests' contributions: the latest score per request and kind (on an
# alias, so that it is not correlated with the outer select of feedback).
_LATEST = feedback.alias("latest")
_CONTRIBUTIONS = select(func.max(_LATEST.c.sequence)).group_by(
    _LATEST.c.request_id, _kind_of(_LATEST)
)


async def quality_stats(engine: AsyncEngine, start: datetime | None) -> list[QualityStats]:
    """Per (model, category, source kind): the count, sum and sum of squares of the requests'
    contributions (each request's latest score of each kind: module docstring) stored at or
    after ``start`` (None: all, read from ``feedback_stats``), sorted by model, category and
    kind."""
    if start is None:
        stmt = select(
            feedback_stats.c.model,
            feedback_stats.c.category,
            feedback_stats.c.source_kind,
            feedback_stats.c["count"],
            feedback_stats.c.score_sum,
            feedback_stats.c.score_sum_squares,
            feedback_stats.c.last_time,
        ).where(feedback_stats.c["count"] > 0)
    else:
        kind = _KIND.label("source_kind")
        stmt = (
            select(
                feedback.c.model,
                feedback.c.category,
                kind,
                func.count().label("count"),
                func.sum(feedback.c.score).label("score_sum"),
                func.sum(feedback.c.score * feedback.c.score).label("score_sum_squares"),
                func.max(feedback.c.time).label("last_time"),
            )
            .where(feedback.c.time >= start)
            .where(feedback.c.sequence.in_(_CONTRIBUTIONS))
            .group_by(feedback.c.model, feedback.c.category, _KIND)
        )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    stats = [
        QualityStats(
            model=row["model"],
            category=row["category"],
            source_kind=row["source_kind"],
            count=int(row["count"]),
            score_sum=float(row["score_sum"] or 0.0),
            score_sum_squares=float(row["score_sum_squares"] or 0.0),
            last_time=row["last_time"],
        )
        for row in rows
    ]
    # Sorted here, not in SQL: PostgreSQL's collation and SQLite's byte order differ.
    return sorted(stats, key=lambda s: (s.model, s.category, s.source_kind))


async def _add_to_stats(
    conn: AsyncConnection,
    model: str,
    category: str,
    kind: str,
    count: int,
    score: float,
    time: datetime | None,
) -> None:
    """Add one score to its group's sums (``count`` -1 and ``time`` None take one out)."""
    key = (
        (feedback_stats.c.model == model)
        & (feedback_stats.c.category == category)
        & (feedback_stats.c.source_kind == kind)
    )
    sign = float(count)
    changes: dict[str, Any] = {
        "count": feedback_stats.c["count"] + count,
        "score_sum": feedback_stats.c.score_sum + sign * score,
        "score_sum_squares": feedback_stats.c.score_sum_squares + sign * score * score,
    }
    if time is not None:
        changes["last_time"] = time
    # Writes are serialised (_lock): the select-then-write cannot race.
    if (await conn.execute(select(feedback_stats.c.model).where(key))).first() is not None:
        await conn.execute(update(feedback_stats).where(key).values(changes))
    elif count > 0 and time is not None:
        await conn.execute(
            insert(feedback_stats).values(
                model=model,
                category=category,
                source_kind=kind,
                count=count,
                score_sum=score,
                score_sum_squares=score * score,
                last_time=time,
            )
        )


async def _lock(conn: AsyncConnection) -> None:
    """Serialise feedback writes for the rest of ``conn``'s transaction."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # The sqlite3 driver would begin only at the first write, after the reads.
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


def _stored(row: RowMapping) -> StoredFeedback:
    fields = dict(row)
    fields["scale"] = FeedbackScale(fields["scale"])
    return StoredFeedback(**fields)
