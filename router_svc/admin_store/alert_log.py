"""The alerts table of the admin store: each alert fired, its payload and its delivery.

Written by :mod:`router_svc.alerts` (one row when an alert fires, updated when its webhook
deliveries end) and read by the ``ListAlerts`` RPC, newest first, in pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .tables import alerts

__all__ = ["MAX_ALERT_PAGE", "AlertLog", "StoredAlert"]

#: Most alerts one query returns.
MAX_ALERT_PAGE = 500


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """One alert as the store keeps it (``payload``: the webhook body as JSON data)."""

    id: int
    alert_id: str
    create_time: datetime
    kind: str
    scope: str
    subject: str
    threshold: float
    value: float
    payload: Any
    # pending, delivered, failed, partial or no_webhook (see router_svc.alerts.delivery).
    delivery_status: str
    delivery_attempts: int
    # The last failure's reason ("" when none); never a URL's path or query.
    delivery_error: str
    delivered_time: datetime | None


class AlertLog:
    """Rows of ``admin_alerts`` over the admin store's engine.

    Every method raises the store's errors as :class:`~.store.AdminStoreError` through
    ``errors`` (the store's own error mapping), never a driver exception.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        errors: Callable[[str], Any],
    ) -> None:
        self._engine = engine
        self._errors = errors

    async def add(
        self,
        *,
        alert_id: str,
        create_time: datetime,
        kind: str,
        scope: str,
        subject: str,
        threshold: float,
        value: float,
        payload: Any,
        delivery_status: str,
    ) -> int | None:
        """Record a fired alert; returns its row id, or None when an alert of that
        ``alert_id`` is recorded already (a budget alert's id is fixed by what it is about, so
        this is the once-per-period rule kept across restarts)."""
        with self._errors("cannot record an alert"):
            async with self._engine.begin() as conn:
                if (
                    await conn.execute(select(alerts.c.id).where(alerts.c.alert_id == alert_id))
                ).first() is not None:
                    return None
                result = await conn.execute(
                    insert(alerts)
                    .values(
                        alert_id=alert_id,
                        create_time=create_time,
                        kind=kind,
                        scope=scope,
                        subject=subject,
                        threshold=threshold,
                        value=value,
                        payload_json=json.dumps(payload, sort_keys=True),
                        delivery_status=delivery_status,
                        delivery_attempts=0,
                        delivery_error="",
                        delivered_time=None,
                    )
                    .returning(alerts.c.id)
                )
                return int(result.scalar_one())

    async def delivered(
        self,
        row_id: int,
        *,
        status: str,
        attempts: int,
        error: str,
        delivered_time: datetime | None,
    ) -> None:
        """Record how the alert's deliveries ended."""
        with self._errors("cannot record an alert's delivery"):
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(alerts)
                    .where(alerts.c.id == row_id)
                    .values(
                        delivery_status=status,
                        delivery_attempts=attempts,
                        delivery_error=error,
                        delivered_time=delivered_time,
                    )
                )

    async def page(self, limit: int, before_id: int | None = None) -> list[StoredAlert]:
        """Up to ``limit`` (at most :data:`MAX_ALERT_PAGE`) alerts, newest first, older than
        ``before_id`` when given."""
        query = (
            select(alerts).order_by(alerts.c.id.desc()).limit(max(1, min(limit, MAX_ALERT_PAGE)))
        )
        if before_id is not None:
            query = query.where(alerts.c.id < before_id)
        with self._errors("cannot read the alerts"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [
            StoredAlert(
                id=int(r.id),
                alert_id=r.alert_id,
                create_time=_utc(r.create_time),
                kind=r.kind,
                scope=r.scope,
                subject=r.subject,
                threshold=float(r.threshold),
                value=float(r.value),
                payload=json.loads(r.payload_json),
                delivery_status=r.delivery_status,
                delivery_attempts=int(r.delivery_attempts),
                delivery_error=r.delivery_error,
                delivered_time=_utc(r.delivered_time) if r.delivered_time is not None else None,
            )
            for r in rows
        ]


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
