"""Protobuf building for the virtual keys and teams of ``llmrouter.v1.RouterAdminService``:
records to messages, and messages (with their update masks) to the plain fields
:class:`router_svc.api_keys.ApiKeys` validates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from llmrouter.v1 import router_admin_service_pb2 as pb

from ..admin_store import ApiKeyRecord, TeamRecord
from ..api_keys import KEY_FIELDS, Digest, allowed_entries
from ..errors import InvalidRequest

__all__ = [
    "api_key_to_proto",
    "digest_to_proto",
    "key_fields",
    "team_fields",
    "team_to_proto",
]

_ROLES = {"user": pb.API_KEY_ROLE_USER, "admin": pb.API_KEY_ROLE_ADMIN}
_ROLE_NAMES = {v: k for k, v in _ROLES.items()}
_PERIODS = {
    "day": pb.BUDGET_PERIOD_DAY,
    "week": pb.BUDGET_PERIOD_WEEK,
    "month": pb.BUDGET_PERIOD_MONTH,
    "rolling": pb.BUDGET_PERIOD_ROLLING,
}
_PERIOD_NAMES = {v: k for k, v in _PERIODS.items()}
_TEAM_FIELDS = ("name", "budgets")


def api_key_to_proto(key: ApiKeyRecord) -> pb.ApiKey:
    """``key`` as the message (never its digests)."""
    message = pb.ApiKey(
        id=key.id,
        name=key.name,
        team_id=key.team_id,
        role=_ROLES[key.role],
        allowed_models=key.allowed_models,
        allowed_categories=key.allowed_categories,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        budgets=[_budget(b) for b in key.budgets],
        create_time=_ts(key.create_time),
    )
    for name in ("expire_time", "revoke_time", "rotate_time"):
        value = getattr(key, name)
        if value is not None:
            getattr(message, name).CopyFrom(_ts(value))
    if key.previous_expire_time is not None and key.previous_sha256:
        message.previous_secret_expire_time.CopyFrom(_ts(key.previous_expire_time))
    return message


def team_to_proto(team: TeamRecord) -> pb.Team:
    """``team`` as the message."""
    return pb.Team(
        id=team.id,
        name=team.name,
        budgets=[_budget(b) for b in team.budgets],
        create_time=_ts(team.create_time),
    )


def digest_to_proto(digest: Digest) -> pb.ApiKeyDigest:
    """One usable secret's digest with its key's attributes."""
    key = digest.key
    message = pb.ApiKeyDigest(
        sha256=digest.sha256,
        api_key_id=key.id,
        team_id=key.team_id,
        role=_ROLES[key.role],
        allowed_models=allowed_entries(key),
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
    )
    if digest.expire_time is not None:
        message.expire_time.CopyFrom(_ts(digest.expire_time))
    return message


def key_fields(key: pb.ApiKey, mask: field_mask_pb2.FieldMask | None = None) -> dict[str, Any]:
    """The fields of ``key`` that ``mask`` names (all settable ones without a mask: a create),
    as plain values. InvalidRequest names ``update_mask`` for a path that is not a field."""
    if mask is None:
        names = [n for n in KEY_FIELDS if n != "expire_time" or key.HasField("expire_time")]
    else:
        names = _paths(mask, KEY_FIELDS)
    out: dict[str, Any] = {}
    for name in names:
        if name == "role":
            out[name] = _ROLE_NAMES.get(key.role, "user")
        elif name in ("allowed_models", "allowed_categories"):
            out[name] = list(getattr(key, name))
        elif name in ("rpm_limit", "tpm_limit"):
            out[name] = getattr(key, name) if key.HasField(name) else None
        elif name == "budgets":
            out[name] = _budgets(key.budgets)
        elif name == "expire_time":
            out[name] = _time(key.expire_time) if key.HasField("expire_time") else None
        else:
            out[name] = getattr(key, name)
    return out


def team_fields(team: pb.Team, mask: field_mask_pb2.FieldMask | None = None) -> dict[str, Any]:
    """The fields of ``team`` that ``mask`` names (name and budgets without one)."""
    names = list(_TEAM_FIELDS) if mask is None else _paths(mask, _TEAM_FIELDS)
    out: dict[str, Any] = {}
    for name in names:
        out[name] = _budgets(team.budgets) if name == "budgets" else team.name
    return out


def _paths(mask: field_mask_pb2.FieldMask, known: tuple[str, ...]) -> list[str]:
    for path in mask.paths:
        if path not in known:
            raise InvalidRequest(
                f"{path!r} is not a field that can be updated", field="update_mask"
            )
    return list(dict.fromkeys(mask.paths))


def _budgets(items: Any) -> list[dict[str, Any]]:
    out = []
    for b in items:
        budget: dict[str, Any] = {"period": _PERIOD_NAMES.get(b.period, "")}
        if b.HasField("rolling_window"):
            budget["rolling_seconds"] = b.rolling_window.seconds
        if b.HasField("soft_usd"):
            budget["soft_usd"] = b.soft_usd
        if b.HasField("hard_usd"):
            budget["hard_usd"] = b.hard_usd
        out.append(budget)
    return out


def _budget(budget: dict[str, Any]) -> pb.Budget:
    message = pb.Budget(
        period=_PERIODS.get(budget["period"], pb.BUDGET_PERIOD_UNSPECIFIED),
        soft_usd=budget.get("soft_usd"),
        hard_usd=budget.get("hard_usd"),
    )
    if "rolling_seconds" in budget:
        message.rolling_window.seconds = int(budget["rolling_seconds"])
    return message


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _time(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)
