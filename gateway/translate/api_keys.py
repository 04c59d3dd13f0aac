"""Virtual keys and teams over HTTP: JSON bodies to RouterAdminService requests (shapes checked
here, meaning checked by the router), and its answers as JSON.

A key as JSON: ``{"id", "name", "team_id", "role": "user" | "admin", "allowed_models",
"allowed_categories", "rpm_limit", "tpm_limit", "budgets", "create_time", "expire_time",
"revoke_time", "rotate_time", "previous_secret_expire_time"}`` (times ISO 8601 UTC, null when
unset); a budget ``{"period": "day" | "week" | "month" | "rolling", "rolling_seconds",
"soft_usd", "hard_usd"}``. The secret appears only in the answers of create and rotate.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Final

from google.protobuf import field_mask_pb2

from gateway.errors import InvalidRequest
from gateway.translate._values import time_of
from llmrouter.v1 import router_admin_service_pb2 as pb

__all__ = [
    "BUDGET_KEYS",
    "KEY_BODY_KEYS",
    "MAX_ROLLING_S",
    "TEAM_BODY_KEYS",
    "api_key_json",
    "create_api_key_request",
    "create_team_request",
    "get_api_key_request",
    "list_api_keys_request",
    "list_teams_request",
    "revoke_api_key_request",
    "rotate_api_key_request",
    "team_json",
    "update_api_key_request",
    "update_team_request",
]

KEY_BODY_KEYS: Final = (
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
TEAM_BODY_KEYS: Final = ("name", "budgets")
BUDGET_KEYS: Final = ("period", "rolling_seconds", "soft_usd", "hard_usd")
_ROLES: Final = {"user": pb.API_KEY_ROLE_USER, "admin": pb.API_KEY_ROLE_ADMIN}
_ROLE_NAMES: Final = {v: k for k, v in _ROLES.items()}
_PERIODS: Final = {
    "day": pb.BUDGET_PERIOD_DAY,
    "week": pb.BUDGET_PERIOD_WEEK,
    "month": pb.BUDGET_PERIOD_MONTH,
    "rolling": pb.BUDGET_PERIOD_ROLLING,
}
_PERIOD_NAMES: Final = {v: k for k, v in _PERIODS.items()}
# Longest overlap a rotation may ask for (the router holds it to 30 days).
_MAX_OVERLAP_S: Final = 30 * 86400
# The router's bounds, said in the OpenAPI document too.
_MAX_NAME: Final = 100
_MAX_LIST: Final = 64
_MAX_BUDGETS: Final = 8
MAX_ROLLING_S: Final = 366 * 86400


# --- requests ----------------------------------------------------------------------------------


def create_api_key_request(body: Mapping[str, Any]) -> pb.CreateApiKeyRequest:
    """CreateApiKey from a JSON body (``name`` required)."""
    if "name" not in body:
        raise InvalidRequest("Missing required parameter: 'name'.", "name")
    return pb.CreateApiKeyRequest(api_key=_api_key(body))


def update_api_key_request(key_id: str, body: Mapping[str, Any]) -> pb.UpdateApiKeyRequest:
    """UpdateApiKey of the body's keys (null clears an optional one)."""
    if not body:
        raise InvalidRequest("The request body names no field to change.", None)
    key = _api_key(body)
    key.id = key_id
    return pb.UpdateApiKeyRequest(
        api_key=key, update_mask=field_mask_pb2.FieldMask(paths=list(body))
    )


def list_api_keys_request(team_id: str, show_revoked: bool) -> pb.ListApiKeysRequest:
    """ListApiKeys of one team ("" all), revoked keys too when asked."""
    return pb.ListApiKeysRequest(team_id=team_id, show_revoked=show_revoked)


def get_api_key_request(key_id: str) -> pb.GetApiKeyRequest:
    """GetApiKey for ``key_id``."""
    return pb.GetApiKeyRequest(id=key_id)


def rotate_api_key_request(key_id: str, body: Mapping[str, Any]) -> pb.RotateApiKeyRequest:
    """RotateApiKey; ``overlap_seconds`` (0 to 30 days) keeps the current secret that long."""
    request = pb.RotateApiKeyRequest(id=key_id)
    if "overlap_seconds" in body:
        overlap = body["overlap_seconds"]
        if not _is_number(overlap) or not 0 <= overlap <= _MAX_OVERLAP_S:
            raise InvalidRequest(
                f"Invalid 'overlap_seconds': expected a number from 0 to {_MAX_OVERLAP_S}.",
                "overlap_seconds",
            )
        request.overlap.FromNanoseconds(int(overlap * 1e9))
    return request


def revoke_api_key_request(key_id: str) -> pb.RevokeApiKeyRequest:
    """RevokeApiKey for ``key_id``."""
    return pb.RevokeApiKeyRequest(id=key_id)


def create_team_request(body: Mapping[str, Any]) -> pb.CreateTeamRequest:
    """CreateTeam from a JSON body (``name`` required)."""
    if "name" not in body:
        raise InvalidRequest("Missing required parameter: 'name'.", "name")
    return pb.CreateTeamRequest(team=_team(body))


def update_team_request(team_id: str, body: Mapping[str, Any]) -> pb.UpdateTeamRequest:
    """UpdateTeam of the body's keys."""
    if not body:
        raise InvalidRequest("The request body names no field to change.", None)
    team = _team(body)
    team.id = team_id
    return pb.UpdateTeamRequest(team=team, update_mask=field_mask_pb2.FieldMask(paths=list(body)))


def list_teams_request() -> pb.ListTeamsRequest:
    """ListTeams takes no arguments."""
    return pb.ListTeamsRequest()


def _api_key(body: Mapping[str, Any]) -> pb.ApiKey:
    key = pb.ApiKey()
    for name, value in body.items():
        if name == "name":
            key.name = _name(value)
        elif name == "team_id":
            key.team_id = _string(value, name, nullable=True)
        elif name == "role":
            if not isinstance(value, str) or value not in _ROLES:
                raise InvalidRequest("Invalid 'role': expected 'user' or 'admin'.", "role")
            key.role = _ROLES[value]
        elif name in ("allowed_models", "allowed_categories"):
            getattr(key, name).extend(_strings(value, name))
        elif name in ("rpm_limit", "tpm_limit"):
            if value is not None:
                number = _integer(value)
                if number is None or not 0 < number < 2**31:
                    raise InvalidRequest(f"Invalid '{name}': expected a positive integer.", name)
                setattr(key, name, number)
        elif name == "budgets":
            key.budgets.extend(_budgets(value, name))
        elif name == "expire_time" and value is not None:
            key.expire_time.FromDatetime(_time(value, name))
    return key


def _team(body: Mapping[str, Any]) -> pb.Team:
    team = pb.Team()
    if "name" in body:
        team.name = _name(body["name"])
    if "budgets" in body:
        team.budgets.extend(_budgets(body["budgets"], "budgets"))
    return team


def _budgets(value: Any, name: str) -> list[pb.Budget]:
    if not isinstance(value, list) or len(value) > _MAX_BUDGETS:
        raise InvalidRequest(
            f"Invalid '{name}': expected an array of at most {_MAX_BUDGETS} objects.", name
        )
    out = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"Invalid '{where}': expected an object.", where)
        for key in item:
            if key not in BUDGET_KEYS:
                raise InvalidRequest(f"Unrecognized budget field: {key}", f"{where}.{key}")
        period = item.get("period")
        if not isinstance(period, str) or period not in _PERIODS:
            raise InvalidRequest(
                f"Invalid '{where}.period': expected one of {', '.join(_PERIODS)}.",
                f"{where}.period",
            )
        budget = pb.Budget(period=_PERIODS[period])
        window = item.get("rolling_seconds")
        if window is not None:
            window = _integer(window)
            if window is None or not 0 < window <= MAX_ROLLING_S:
                raise InvalidRequest(
                    f"Invalid '{where}.rolling_seconds': expected an integer from 1 to "
                    f"{MAX_ROLLING_S} (366 days).",
                    f"{where}.rolling_seconds",
                )
            budget.rolling_window.seconds = window
        for limit in ("soft_usd", "hard_usd"):
            amount = item.get(limit)
            if amount is not None:
                if not _is_number(amount) or amount < 0:
                    raise InvalidRequest(
                        f"Invalid '{where}.{limit}': expected a non-negative number.",
                        f"{where}.{limit}",
                    )
                setattr(budget, limit, float(amount))
        out.append(budget)
    return out


def _integer(value: Any) -> int | None:
    """``value`` as an int when it is one (JSON ``5`` or ``5.0``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_NAME:
        raise InvalidRequest(f"Invalid 'name': expected 1 to {_MAX_NAME} characters.", "name")
    return value


def _string(value: Any, name: str, *, nullable: bool = False) -> str:
    if value is None and nullable:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid '{name}': expected a string.", name)
    return value


def _strings(value: Any, name: str) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > _MAX_LIST
        or not all(isinstance(v, str) for v in value)
    ):
        raise InvalidRequest(
            f"Invalid '{name}': expected an array of at most {_MAX_LIST} strings.", name
        )
    return value


def _time(value: Any, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRequest(
            f"Invalid '{name}': expected an ISO 8601 time with its offset "
            "(e.g. 2027-01-31T00:00:00Z).",
            name,
        )
    return parsed.astimezone(dt.UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- responses ---------------------------------------------------------------------------------


def api_key_json(key: pb.ApiKey, secret: str | None = None) -> dict[str, Any]:
    """One key; with ``secret`` (create, rotate) the only time the secret is shown."""
    out: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "team_id": key.team_id or None,
        "role": _ROLE_NAMES.get(key.role, "user"),
        "allowed_models": list(key.allowed_models),
        "allowed_categories": list(key.allowed_categories),
        "rpm_limit": key.rpm_limit if key.HasField("rpm_limit") else None,
        "tpm_limit": key.tpm_limit if key.HasField("tpm_limit") else None,
        "budgets": [_budget_json(b) for b in key.budgets],
        "create_time": time_of(key, "create_time"),
        "expire_time": time_of(key, "expire_time"),
        "revoke_time": time_of(key, "revoke_time"),
        "rotate_time": time_of(key, "rotate_time"),
        "previous_secret_expire_time": time_of(key, "previous_secret_expire_time"),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def team_json(team: pb.Team) -> dict[str, Any]:
    """One team."""
    return {
        "id": team.id,
        "name": team.name,
        "budgets": [_budget_json(b) for b in team.budgets],
        "create_time": time_of(team, "create_time"),
    }


def _budget_json(budget: pb.Budget) -> dict[str, Any]:
    return {
        "period": _PERIOD_NAMES.get(budget.period, "unspecified"),
        "rolling_seconds": budget.rolling_window.seconds
        if budget.HasField("rolling_window")
        else None,
        "soft_usd": budget.soft_usd if budget.HasField("soft_usd") else None,
        "hard_usd": budget.hard_usd if budget.HasField("hard_usd") else None,
    }
