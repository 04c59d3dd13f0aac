"""Virtual API keys and teams: validated changes kept in the admin store, and the digests a
gateway authenticates with.

A secret is generated here (``sk-llmr-`` and 32 random bytes, base64url), returned once by
create and rotate, and kept only as its SHA-256 digest; nothing here logs, audits or reports
a secret or a digest (the audit log records the key's public fields). Each change is one
store transaction with its audit event, applied at once by this replica and announced to the
others (:mod:`router_svc.admin_sync`), like every admin change.

Budgets are stored and returned as data (``{"period": "day" | "week" | "month" | "rolling",
"rolling_seconds": N, "soft_usd": x, "hard_usd": y}``); enforcing them is the budget check's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .admin import SYSTEM, Admin
from .admin_store import Actor, AdminStoreError, ApiKeyRecord, TeamRecord
from .errors import AdminStoreUnavailable, FailedPrecondition, InvalidRequest, NotFound

__all__ = [
    "BUDGET_PERIODS",
    "CATEGORY_PREFIX",
    "DEFAULT_OVERLAP_S",
    "KEY_FIELDS",
    "MAX_OVERLAP_S",
    "ROLES",
    "SECRET_PREFIX",
    "ApiKeys",
    "Digest",
    "allowed_entries",
]

#: Every secret starts with this, so that a leaked one is recognised (secret scanners).
SECRET_PREFIX: Final = "sk-llmr-"
ROLES: Final = ("user", "admin")
BUDGET_PERIODS: Final = ("day", "week", "month", "rolling")
#: Caller.allowed_models entries naming a category (router_svc.routing.policy).
CATEGORY_PREFIX: Final = "category:"
#: A rotation's overlap when the request names none, and the longest one accepted (seconds).
DEFAULT_OVERLAP_S: Final = 3600.0
MAX_OVERLAP_S: Final = 30 * 86400.0
#: Fields an update may name.
KEY_FIELDS: Final = (
    "name",
    "team_id",
    "role",
    "allowed_models",
    "allowed_categories",
    "rpm_limit",
    "tpm_limit",
    "budgets",
    "expire_time",
)
TEAM_FIELDS: Final = ("name", "budgets")
_MAX_NAME = 100
_MAX_LIST = 64
_MAX_BUDGETS = 8
_MAX_LIMIT = 2**31 - 1
_MAX_ROLLING_S = 366 * 86400


@dataclass(frozen=True, slots=True)
class Digest:
    """One secret a gateway accepts: its SHA-256, its key, and until when it works."""

    sha256: bytes
    key: ApiKeyRecord
    expire_time: datetime | None


def allowed_entries(key: ApiKeyRecord) -> tuple[str, ...]:
    """``key``'s allowed models and categories as Caller.allowed_models entries."""
    return (*key.allowed_models, *(CATEGORY_PREFIX + c for c in key.allowed_categories))


class ApiKeys:
    """Create, change, rotate and revoke virtual keys and teams, over ``admin``'s store."""

    def __init__(self, admin: Admin, clock: Callable[[], float] = time.time) -> None:
        self._admin = admin
        self._clock = clock

    # Reading ---------------------------------------------------------------------------------

    def keys(self, team_id: str = "", *, show_revoked: bool = False) -> list[ApiKeyRecord]:
        """Keys oldest first, of ``team_id`` only when given, revoked ones when asked."""
        return [
            k
            for k in self._admin.api_keys
            if (not team_id or k.team_id == team_id) and (show_revoked or k.revoke_time is None)
        ]

    def get(self, key_id: str) -> ApiKeyRecord:
        """The key ``key_id``; NotFound naming ``id`` when there is none."""
        for key in self._admin.api_keys:
            if key.id == key_id:
                return key
        raise NotFound(f"API key {key_id!r} does not exist", field="id")

    def teams(self) -> list[TeamRecord]:
        """Teams, oldest first."""
        return list(self._admin.teams)

    def digests(self) -> list[Digest]:
        """Every secret usable now: current secrets of keys neither revoked nor expired, and
        previous secrets still inside their rotation's overlap."""
        now = self._now()
        found: list[Digest] = []
        for key in self._admin.api_keys:
            if key.revoke_time is not None or _passed(key.expire_time, now):
                continue
            found.append(Digest(bytes.fromhex(key.secret_sha256), key, key.expire_time))
            if key.previous_sha256 and not _passed(key.previous_expire_time, now):
                end = _earliest(key.previous_expire_time, key.expire_time)
                found.append(Digest(bytes.fromhex(key.previous_sha256), key, end))
        return found

    # Keys -------------------------------------------------------------------------------------

    async def create(
        self, fields: Mapping[str, Any], actor: Actor = SYSTEM
    ) -> tuple[ApiKeyRecord, str]:
        """A new key from ``fields`` (names of :data:`KEY_FIELDS`; absent ones default) and
        its secret, which is not kept. InvalidRequest names the field at fault
        (``api_key.<field>``)."""
        checked = self._check_key_fields(fields, "api_key")
        name = checked.get("name", "")
        if not name:
            raise InvalidRequest("name must be 1-100 characters", field="api_key.name")
        expire = checked.get("expire_time")
        if expire is not None and expire <= self._now():
            raise InvalidRequest("expire_time must be in the future", field="api_key.expire_time")
        secret = _new_secret()
        key = ApiKeyRecord(
            id="vk_" + secrets.token_hex(8),
            name=name,
            team_id=checked.get("team_id", ""),
            role=checked.get("role", "user"),
            allowed_models=checked.get("allowed_models", ()),
            allowed_categories=checked.get("allowed_categories", ()),
            rpm_limit=checked.get("rpm_limit"),
            tpm_limit=checked.get("tpm_limit"),
            budgets=checked.get("budgets", ()),
            create_time=self._now(),
            expire_time=expire,
            revoke_time=None,
            rotate_time=None,
            secret_sha256=_digest_hex(secret),
            previous_sha256=None,
            previous_expire_time=None,
        )
        await self._put_key("create_api_key", actor, key, created=True)
        return key, secret

    async def update(
        self, key_id: str, fields: Mapping[str, Any], actor: Actor = SYSTEM
    ) -> ApiKeyRecord:
        """Replace the given fields of key ``key_id``; FailedPrecondition when it is revoked."""
        key = self._usable(key_id)
        if not fields:
            raise InvalidRequest("update_mask names no field", field="update_mask")
        checked = self._check_key_fields(fields, "api_key")
        if "name" in checked and not checked["name"]:
            raise InvalidRequest("name must be 1-100 characters", field="api_key.name")
        updated = dataclasses.replace(key, **checked)
        await self._put_key("update_api_key", actor, updated, created=False)
        return updated

    async def rotate(
        self, key_id: str, overlap_s: float | None = None, actor: Actor = SYSTEM
    ) -> tuple[ApiKeyRecord, str]:
        """A new secret for ``key_id``; the current one works ``overlap_s`` seconds more
        (default :data:`DEFAULT_OVERLAP_S`, 0 to :data:`MAX_OVERLAP_S`). The secret before
        the current one stops at once."""
        key = self._usable(key_id)
        overlap = DEFAULT_OVERLAP_S if overlap_s is None else overlap_s
        if not (math.isfinite(overlap) and 0 <= overlap <= MAX_OVERLAP_S):
            raise InvalidRequest(
                f"overlap must be 0 to {MAX_OVERLAP_S:.0f} seconds", field="overlap"
            )
        now = self._now()
        secret = _new_secret()
        rotated = dataclasses.replace(
            key,
            secret_sha256=_digest_hex(secret),
            previous_sha256=key.secret_sha256 if overlap > 0 else None,
            previous_expire_time=now + timedelta(seconds=overlap) if overlap > 0 else None,
            rotate_time=now,
        )
        await self._put_key("rotate_api_key", actor, rotated, created=False)
        return rotated, secret

    async def revoke(self, key_id: str, actor: Actor = SYSTEM) -> ApiKeyRecord:
        """Revoke ``key_id`` and any secret in its overlap; a revoked key is returned as is."""
        key = self.get(key_id)
        if key.revoke_time is not None:
            return key
        revoked = dataclasses.replace(
            key, revoke_time=self._now(), previous_sha256=None, previous_expire_time=None
        )
        await self._put_key("revoke_api_key", actor, revoked, created=False)
        return revoked

    # Teams ------------------------------------------------------------------------------------

    async def create_team(self, fields: Mapping[str, Any], actor: Actor = SYSTEM) -> TeamRecord:
        """A new team from ``name`` and ``budgets``."""
        checked = self._check_team_fields(fields)
        if not checked.get("name"):
            raise InvalidRequest("name must be 1-100 characters", field="team.name")
        team = TeamRecord(
            id="team_" + secrets.token_hex(6),
            name=checked["name"],
            budgets=checked.get("budgets", ()),
            create_time=self._now(),
        )
        await self._put_team("create_team", actor, team, created=True)
        return team

    async def update_team(
        self, team_id: str, fields: Mapping[str, Any], actor: Actor = SYSTEM
    ) -> TeamRecord:
        """Replace the given fields (name, budgets) of team ``team_id``."""
        team = next((t for t in self._admin.teams if t.id == team_id), None)
        if team is None:
            raise NotFound(f"team {team_id!r} does not exist", field="team.id")
        if not fields:
            raise InvalidRequest("update_mask names no field", field="update_mask")
        checked = self._check_team_fields(fields)
        if "name" in checked and not checked["name"]:
            raise InvalidRequest("name must be 1-100 characters", field="team.name")
        updated = dataclasses.replace(team, **checked)
        await self._put_team("update_team", actor, updated, created=False)
        return updated

    # Internals --------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _usable(self, key_id: str) -> ApiKeyRecord:
        key = self.get(key_id)
        if key.revoke_time is not None:
            raise FailedPrecondition(f"API key {key_id!r} is revoked", field="id")
        return key

    async def _put_key(
        self, action: str, actor: Actor, key: ApiKeyRecord, *, created: bool
    ) -> None:
        try:
            event = await self._admin.store.put_api_key(action, actor, key, created=created)
        except AdminStoreError as exc:
            raise AdminStoreUnavailable(str(exc)) from exc
        await self._admin.committed(event.version)

    async def _put_team(
        self, action: str, actor: Actor, team: TeamRecord, *, created: bool
    ) -> None:
        try:
            event = await self._admin.store.put_team(action, actor, team, created=created)
        except AdminStoreError as exc:
            raise AdminStoreUnavailable(str(exc)) from exc
        await self._admin.committed(event.version)

    def _check_key_fields(self, fields: Mapping[str, Any], path: str) -> dict[str, Any]:
        """``fields`` validated and normalised; InvalidRequest names ``<path>.<field>``."""
        out: dict[str, Any] = {}
        for name, value in fields.items():
            where = f"{path}.{name}"
            if name == "name":
                out[name] = _name(value, where)
            elif name == "team_id":
                if value and not any(t.id == value for t in self._admin.teams):
                    raise InvalidRequest(f"team {value!r} does not exist", field=where)
                out[name] = value or ""
            elif name == "role":
                if value not in ROLES:
                    raise InvalidRequest("role must be user or admin", field=where)
                out[name] = value
            elif name == "allowed_models":
                out[name] = _names(value, where, self._admin.has_model, "model")
            elif name == "allowed_categories":
                known = {c.name for c in self._admin.categories()}
                out[name] = _names(value, where, known.__contains__, "category")
            elif name in ("rpm_limit", "tpm_limit"):
                if value is not None and not (isinstance(value, int) and 0 < value <= _MAX_LIMIT):
                    raise InvalidRequest(f"{name} must be a positive integer", field=where)
                out[name] = value
            elif name == "budgets":
                out[name] = budgets(value, where)
            elif name == "expire_time":
                out[name] = value
            else:
                raise InvalidRequest(f"{name} cannot be set", field=where)
        return out

    def _check_team_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in fields.items():
            where = f"team.{name}"
            if name == "name":
                out[name] = _name(value, where)
            elif name == "budgets":
                out[name] = budgets(value, where)
            else:
                raise InvalidRequest(f"{name} cannot be set", field=where)
        return out


def budgets(raw: Iterable[Mapping[str, Any]], path: str) -> tuple[dict[str, Any], ...]:
    """Budgets validated: a known period (``rolling`` with 1 s to 366 days of
    ``rolling_seconds``), soft and hard limits finite and non-negative, at least one of them,
    soft not above hard, no period twice, at most 8. InvalidRequest names ``path[i].<field>``.
    """
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        period = item.get("period")
        if period not in BUDGET_PERIODS:
            raise InvalidRequest(
                f"period must be one of {', '.join(BUDGET_PERIODS)}", field=f"{where}.period"
            )
        budget: dict[str, Any] = {"period": period}
        window = int(item.get("rolling_seconds") or 0)
        if period == "rolling":
            if not 1 <= window <= _MAX_ROLLING_S:
                raise InvalidRequest(
                    "a rolling budget needs a window of 1 second to 366 days",
                    field=f"{where}.rolling_window",
                )
            budget["rolling_seconds"] = window
        elif window:
            raise InvalidRequest(
                "only a rolling budget has a window", field=f"{where}.rolling_window"
            )
        for limit in ("soft_usd", "hard_usd"):
            value = item.get(limit)
            if value is None:
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise InvalidRequest(
                    f"{limit} must be a non-negative number", field=f"{where}.{limit}"
                )
            budget[limit] = float(value)
        if "soft_usd" not in budget and "hard_usd" not in budget:
            raise InvalidRequest("set soft_usd, hard_usd or both", field=f"{where}.hard_usd")
        if budget.get("soft_usd", 0.0) > budget.get("hard_usd", math.inf):
            raise InvalidRequest("soft_usd must not exceed hard_usd", field=f"{where}.soft_usd")
        if (period, window) in seen:
            raise InvalidRequest("the same period is budgeted twice", field=f"{where}.period")
        seen.add((period, window))
        out.append(budget)
    if len(out) > _MAX_BUDGETS:
        raise InvalidRequest(f"at most {_MAX_BUDGETS} budgets", field=path)
    return tuple(out)


def _name(value: Any, where: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > _MAX_NAME or not all(c.isprintable() for c in text):
        raise InvalidRequest("name must be 1-100 printable characters", field=where)
    return text


def _names(
    value: Sequence[str], where: str, known: Callable[[str], bool], what: str
) -> tuple[str, ...]:
    if len(value) > _MAX_LIST:
        raise InvalidRequest(f"at most {_MAX_LIST} entries", field=where)
    for i, item in enumerate(value):
        if not known(item):
            raise InvalidRequest(f"unknown {what} {item!r}", field=f"{where}[{i}]")
    return tuple(dict.fromkeys(value))


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _digest_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _passed(when: datetime | None, now: datetime) -> bool:
    return when is not None and when <= now


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)
