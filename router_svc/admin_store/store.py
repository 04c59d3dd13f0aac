"""The admin store: runtime overlays on the config file and the audit log, in SQLite or
PostgreSQL through async SQLAlchemy.

Every change is one transaction that takes the store's write lock (``SELECT ... FOR UPDATE`` of
the version row on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), reads each key's value before,
writes the overlays, adds one to the version and appends the audit row: replicas writing at
once are serialised, and the audit's "before" is the value the change replaced, not what the
writing replica last saw.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import schema
from .alert_log import AlertLog
from .eval_samples import EvalSamples
from .key_rows import (
    ApiKeyRecord,
    TeamRecord,
    key_from_row,
    key_to_row,
    team_from_row,
    team_to_row,
)
from .tables import api_keys, audit, overlays, teams, version

__all__ = [
    "Actor",
    "AdminStore",
    "AdminStoreError",
    "AuditEvent",
    "Change",
    "Overlay",
    "Snapshot",
    "async_url",
    "safe_url",
]

#: Seconds to wait for a PostgreSQL connection before calling the store unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Most audit events one query returns.
MAX_AUDIT_PAGE = 500

Baseline = Callable[[str, str], Any]


class AdminStoreError(RuntimeError):
    """The store cannot be opened, read or written; the message is one line, no password."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: the caller's credential (``token:ENV_NAME``, ``cert:CN`` or
    ``anonymous``) and, when the gateway relayed it, the API key id it authenticated."""

    identity: str
    api_key_id: str = ""

    def describe(self) -> str:
        """``identity`` plus the API key id, as the overlay's ``updated_by``."""
        return f"{self.identity} (api key {self.api_key_id})" if self.api_key_id else self.identity


@dataclass(frozen=True, slots=True)
class Overlay:
    """One value set at runtime over the config file."""

    kind: str
    key: str
    # The value as JSON data (None: a config category deleted at runtime).
    value: Any
    created_version: int
    updated_version: int
    update_time: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every overlay, virtual key and team at ``version``."""

    version: int
    overlays: tuple[Overlay, ...]
    api_keys: tuple[ApiKeyRecord, ...] = ()
    teams: tuple[TeamRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """Set ``kind``/``key`` to ``value`` (JSON data), or with ``remove`` drop the overlay so
    the config file's value applies again."""

    kind: str
    key: str
    value: Any = None
    remove: bool = False


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded admin action; ``before``/``after`` map each key it touched to its value."""

    id: int
    event_time: datetime
    version: int
    actor: str
    api_key_id: str
    action: str
    target: str
    before: Any
    after: Any


def async_url(url: str) -> URL:
    """``url`` with the async driver: ``postgresql://`` (or ``postgres://``) becomes
    ``postgresql+asyncpg://``, ``sqlite://`` becomes ``sqlite+aiosqlite://``.

    Raises :class:`AdminStoreError` for anything but SQLite or PostgreSQL.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise AdminStoreError("invalid database url") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise AdminStoreError(f"unsupported database {backend!r}: use postgresql:// or sqlite:///path")


def safe_url(url: str | URL) -> str:
    """``url`` with its password masked, fit for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database url>"


class AdminStore:
    """Overlays, their version and the audit log in one database."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        #: The alerts fired and their deliveries (:mod:`router_svc.alerts`).
        self.alerts = AlertLog(engine, _store_errors)
        #: Answers sampled for evaluation, waiting for the judge (:mod:`router_svc.evaluation`).
        self.eval_samples = EvalSamples(engine, _store_errors)

    @classmethod
    async def open(cls, url: str, clock: Callable[[], float] = time.time) -> AdminStore:
        """Connect to ``url`` (see :func:`async_url`) and migrate the store to the newest schema.

        Raises :class:`AdminStoreError` naming the reason when the URL is unusable or the
        database cannot be reached or migrated.
        """
        parsed = async_url(url)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            _create_parent_dir(parsed.database)
            # Each busy wait of a writer lasts at most this long before "database is locked".
            connect_args["timeout"] = 10.0
        else:
            connect_args["timeout"] = CONNECT_TIMEOUT_S
        engine = create_async_engine(
            parsed,
            pool_pre_ping=parsed.get_backend_name() != "sqlite",
            connect_args=connect_args,
            # Values never in SQLAlchemy's logs or error messages: evaluation samples are
            # prompts and answers.
            hide_parameters=True,
        )
        if parsed.get_backend_name() == "sqlite":
            _sqlite_transactions(engine)
        try:
            with _store_errors("cannot open the admin store"):
                await schema.upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, clock)

    def describe(self) -> str:
        """Database and address for logs, without the password."""
        return safe_url(self._engine.url)

    async def version(self) -> int:
        """The number of the last change (0: none yet)."""
        with _store_errors("cannot read the admin store"):
            async with self._engine.connect() as conn:
                found = await conn.scalar(select(version.c.version).where(version.c.id == 1))
        return int(found or 0)

    async def snapshot(self) -> Snapshot:
        """Every overlay and the version they make up (read in one transaction)."""
        with _store_errors("cannot read the admin store"):
            async with self._engine.connect() as conn:
                if self._postgres:
                    conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    number = await conn.scalar(select(version.c.version).where(version.c.id == 1))
                    rows = (
                        await conn.execute(
                            select(overlays).order_by(
                                overlays.c.created_version, overlays.c.kind, overlays.c.key
                            )
                        )
                    ).all()
                    key_rows = (
                        await conn.execute(select(api_keys).order_by(api_keys.c.create_time))
                    ).all()
                    team_rows = (
                        await conn.execute(select(teams).order_by(teams.c.create_time))
                    ).all()
        return Snapshot(
            int(number or 0),
            tuple(
                Overlay(
                    kind=r.kind,
                    key=r.key,
                    value=json.loads(r.value_json),
                    created_version=int(r.created_version),
                    updated_version=int(r.updated_version),
                    update_time=_utc(r.update_time),
                    updated_by=r.updated_by,
                )
                for r in rows
            ),
            tuple(key_from_row(r) for r in key_rows),
            tuple(team_from_row(r) for r in team_rows),
        )

    async def put_api_key(
        self, action: str, actor: Actor, key: ApiKeyRecord, *, created: bool
    ) -> AuditEvent:
        """Insert (``created``) or replace ``key``, as one audit event ``action`` on
        ``api_key:<id>`` whose before and after are the key's public fields (never a digest).
        The version goes up by one."""
        where = api_keys.c.id == key.id
        with _store_errors("cannot write the admin store"):
            async with self._writing() as conn:
                number = await self._lock_version(conn) + 1
                before: Any = None
                if not created:
                    row = (await conn.execute(select(api_keys).where(where))).first()
                    before = key_from_row(row).public() if row is not None else None
                values = key_to_row(key, number)
                if created:
                    await conn.execute(insert(api_keys).values(**values))
                else:
                    await conn.execute(update(api_keys).where(where).values(**values))
                await conn.execute(update(version).where(version.c.id == 1).values(version=number))
                return await self._append(
                    conn,
                    number,
                    self._now(),
                    actor,
                    action,
                    f"api_key:{key.id}",
                    before,
                    key.public(),
                )

    async def put_team(
        self, action: str, actor: Actor, team: TeamRecord, *, created: bool
    ) -> AuditEvent:
        """Insert (``created``) or replace ``team`` as one audit event on ``team:<id>``."""
        where = teams.c.id == team.id
        with _store_errors("cannot write the admin store"):
            async with self._writing() as conn:
                number = await self._lock_version(conn) + 1
                before: Any = None
                if not created:
                    row = (await conn.execute(select(teams).where(where))).first()
                    before = team_from_row(row).public() if row is not None else None
                values = team_to_row(team, number)
                if created:
                    await conn.execute(insert(teams).values(**values))
                else:
                    await conn.execute(update(teams).where(where).values(**values))
                await conn.execute(update(version).where(version.c.id == 1).values(version=number))
                return await self._append(
                    conn,
                    number,
                    self._now(),
                    actor,
                    action,
                    f"team:{team.id}",
                    before,
                    team.public(),
                )

    async def change(
        self,
        action: str,
        target: str,
        actor: Actor,
        changes: Sequence[Change],
        baseline: Baseline,
    ) -> AuditEvent:
        """Apply ``changes`` and record them as one audit event; returns the event.

        ``baseline(kind, key)`` is the config file's value of a key without an overlay (the
        "before" of a first change, the "after" of a removal). The version goes up by one.
        """
        with _store_errors("cannot write the admin store"):
            async with self._writing() as conn:
                number = await self._lock_version(conn) + 1
                now = self._now()
                before: dict[str, Any] = {}
                after: dict[str, Any] = {}
                for change in changes:
                    where = (overlays.c.kind == change.kind) & (overlays.c.key == change.key)
                    row = (await conn.execute(select(overlays.c.value_json).where(where))).first()
                    before[change.key] = (
                        json.loads(row.value_json)
                        if row is not None
                        else baseline(change.kind, change.key)
                    )
                    if change.remove:
                        after[change.key] = baseline(change.kind, change.key)
                        await conn.execute(delete(overlays).where(where))
                        continue
                    after[change.key] = change.value
                    fields = {
                        "value_json": json.dumps(change.value),
                        "updated_version": number,
                        "update_time": now,
                        "updated_by": actor.describe(),
                    }
                    if row is None:
                        await conn.execute(
                            insert(overlays).values(
                                kind=change.kind, key=change.key, created_version=number, **fields
                            )
                        )
                    else:
                        await conn.execute(update(overlays).where(where).values(**fields))
                await conn.execute(update(version).where(version.c.id == 1).values(version=number))
                return await self._append(conn, number, now, actor, action, target, before, after)

    async def note(
        self, action: str, target: str, actor: Actor, before: Any, after: Any
    ) -> AuditEvent:
        """Record an action that sets no overlay (a breaker reset); the version stays."""
        with _store_errors("cannot write the admin store"):
            async with self._writing() as conn:
                number = await self._lock_version(conn)
                return await self._append(
                    conn, number, self._now(), actor, action, target, before, after
                )

    async def audit_events(self, limit: int, before_id: int | None = None) -> list[AuditEvent]:
        """Up to ``limit`` (at most :data:`MAX_AUDIT_PAGE`) events, newest first, older than
        ``before_id`` when given."""
        query = select(audit).order_by(audit.c.id.desc()).limit(max(1, min(limit, MAX_AUDIT_PAGE)))
        if before_id is not None:
            query = query.where(audit.c.id < before_id)
        with _store_errors("cannot read the audit log"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [
            AuditEvent(
                id=int(r.id),
                event_time=_utc(r.event_time),
                version=int(r.version),
                actor=r.actor,
                api_key_id=r.api_key_id,
                action=r.action,
                target=r.target,
                before=json.loads(r.before_json),
                after=json.loads(r.after_json),
            )
            for r in rows
        ]

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    # ---------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.execution_options(immediate=True).begin() as conn:
            yield conn

    async def _lock_version(self, conn: AsyncConnection) -> int:
        query = select(version.c.version).where(version.c.id == 1)
        if self._postgres:
            query = query.with_for_update()
        return int(await conn.scalar(query) or 0)

    async def _append(
        self,
        conn: AsyncConnection,
        number: int,
        now: datetime,
        actor: Actor,
        action: str,
        target: str,
        before: Any,
        after: Any,
    ) -> AuditEvent:
        result = await conn.execute(
            insert(audit)
            .values(
                event_time=now,
                version=number,
                actor=actor.identity,
                api_key_id=actor.api_key_id,
                action=action,
                target=target,
                before_json=json.dumps(before),
                after_json=json.dumps(after),
            )
            .returning(audit.c.id)
        )
        return AuditEvent(
            int(result.scalar_one()),
            now,
            number,
            actor.identity,
            actor.api_key_id,
            action,
            target,
            before,
            after,
        )


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _create_parent_dir(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AdminStoreError(f"cannot create directory for {database}: {exc.strerror}") from exc


def _sqlite_transactions(engine: AsyncEngine) -> None:
    """SQLite transactions begun by SQLAlchemy, ``BEGIN IMMEDIATE`` for writers.

    The sqlite3 module otherwise opens a deferred transaction at the first write: two
    routers reading the version and then both upgrading to write would deadlock into "database
    is locked". This is SQLAlchemy's documented recipe for pysqlite/aiosqlite transactions.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _wal(cursor)
            # Deleted rows are overwritten, not left in free pages: evaluation samples hold
            # prompts and answers until graded (router_svc.admin_store.eval_samples).
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _wal(cursor: Any) -> None:
    # WAL lets replicas read while one writes. Switching a fresh file to WAL needs it alone;
    # SQLite answers "database is locked" at once while another process opens it too.
    for attempt in range(20):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 19:
                raise
            time.sleep(0.05 * (attempt + 1))


@contextlib.contextmanager
def _store_errors(action: str) -> Iterator[None]:
    """Driver and SQLAlchemy failures as :class:`AdminStoreError` with a one-line reason."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise AdminStoreError(f"{action}: {_describe(exc)}") from exc
    except schema.MigrationError as exc:
        raise AdminStoreError(f"{action}: cannot migrate the schema: {exc}") from exc


def _describe(exc: BaseException) -> str:
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
