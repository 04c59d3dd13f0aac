"""Rows of the virtual keys and teams tables as plain records, and back.

A record holds the secret only as its SHA-256 digest (hex); nothing here ever sees a secret.
Budgets stay JSON data (``[{"period": "day", "soft_usd": 5.0, "hard_usd": 10.0}]``): the
router validates them (:mod:`router_svc.api_keys`), the budget check reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

__all__ = [
    "ApiKeyRecord",
    "TeamRecord",
    "key_from_row",
    "key_to_row",
    "team_from_row",
    "team_to_row",
]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One virtual key as stored. Times are aware UTC datetimes; None: unset."""

    id: str
    name: str
    team_id: str
    # "admin" or "user".
    role: str
    allowed_models: tuple[str, ...]
    allowed_categories: tuple[str, ...]
    rpm_limit: int | None
    tpm_limit: int | None
    # JSON data: a list of {"period", "rolling_seconds"?, "soft_usd"?, "hard_usd"?}.
    budgets: tuple[dict[str, Any], ...]
    create_time: datetime
    expire_time: datetime | None
    revoke_time: datetime | None
    rotate_time: datetime | None
    # SHA-256 of the current secret, hex.
    secret_sha256: str
    # SHA-256 of the secret before the last rotation, valid until previous_expire_time.
    previous_sha256: str | None
    previous_expire_time: datetime | None

    def public(self) -> dict[str, Any]:
        """Every field but the digests, as JSON data: what the audit log records."""
        return {
            "name": self.name,
            "team_id": self.team_id,
            "role": self.role,
            "allowed_models": list(self.allowed_models),
            "allowed_categories": list(self.allowed_categories),
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "budgets": list(self.budgets),
            "expire_time": _iso(self.expire_time),
            "revoke_time": _iso(self.revoke_time),
            "rotate_time": _iso(self.rotate_time),
            "previous_secret_expire_time": _iso(self.previous_expire_time),
        }


@dataclass(frozen=True, slots=True)
class TeamRecord:
    """One team as stored."""

    id: str
    name: str
    budgets: tuple[dict[str, Any], ...]
    create_time: datetime

    def public(self) -> dict[str, Any]:
        """The team as JSON data, for the audit log."""
        return {"name": self.name, "budgets": list(self.budgets)}


def key_to_row(key: ApiKeyRecord, version: int) -> dict[str, Any]:
    """Column values of ``key`` written at store ``version``."""
    return {
        "id": key.id,
        "name": key.name,
        "team_id": key.team_id or None,
        "role": key.role,
        "allowed_models_json": json.dumps(list(key.allowed_models)),
        "allowed_categories_json": json.dumps(list(key.allowed_categories)),
        "rpm_limit": key.rpm_limit,
        "tpm_limit": key.tpm_limit,
        "budgets_json": json.dumps(list(key.budgets)),
        "create_time": key.create_time,
        "expire_time": key.expire_time,
        "revoke_time": key.revoke_time,
        "rotate_time": key.rotate_time,
        "secret_sha256": key.secret_sha256,
        "previous_sha256": key.previous_sha256,
        "previous_expire_time": key.previous_expire_time,
        "updated_version": version,
    }


def key_from_row(row: Row[Any]) -> ApiKeyRecord:
    """The record of an ``admin_api_keys`` row."""
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        team_id=row.team_id or "",
        role=row.role,
        allowed_models=tuple(json.loads(row.allowed_models_json)),
        allowed_categories=tuple(json.loads(row.allowed_categories_json)),
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        budgets=tuple(json.loads(row.budgets_json)),
        create_time=_utc(row.create_time),
        expire_time=_utc_or_none(row.expire_time),
        revoke_time=_utc_or_none(row.revoke_time),
        rotate_time=_utc_or_none(row.rotate_time),
        secret_sha256=row.secret_sha256,
        previous_sha256=row.previous_sha256,
        previous_expire_time=_utc_or_none(row.previous_expire_time),
    )


def team_to_row(team: TeamRecord, version: int) -> dict[str, Any]:
    """Column values of ``team`` written at store ``version``."""
    return {
        "id": team.id,
        "name": team.name,
        "budgets_json": json.dumps(list(team.budgets)),
        "create_time": team.create_time,
        "updated_version": version,
    }


def team_from_row(row: Row[Any]) -> TeamRecord:
    """The record of an ``admin_teams`` row."""
    return TeamRecord(
        id=row.id,
        name=row.name,
        budgets=tuple(json.loads(row.budgets_json)),
        create_time=_utc(row.create_time),
    )


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
