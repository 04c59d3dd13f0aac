"""The query string of ``GET /v1/costs`` and ``GET /v1/usage``, validated into a CostQuery.

Times are ISO 8601 (UTC when no offset is given) or unix seconds; ``since`` (``24h``, ``7d``)
is a window ending at ``end`` (default: now). Lists (``group_by`` and the filters) may repeat
the parameter, use commas, or both. Every mistake is an InvalidRequest naming the parameter;
unknown parameters are mistakes too, so a typo never silently widens a report.

Reports are the caller's own (:func:`scoped`): a key that is not an admin key sees only the
usage recorded under its id, and asking for another key's (``api_key_id``) or another team's
(``team_id``) is a 403 naming the parameter, not a quietly narrowed report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.errors import InvalidRequest, PermissionDenied

__all__ = [
    "BUCKETS",
    "DIMENSIONS",
    "FILTERS",
    "CostQuery",
    "own_keys",
    "parse_cost_query",
    "parse_time",
    "scoped",
]

# group_by values, in the order the report columns come.
DIMENSIONS: Final = ("provider", "model", "category", "source", "api_key", "team", "deployment")
BUCKETS: Final = ("hour", "day")
# Filter parameter -> CostQuery field.
FILTERS: Final = {
    "provider": "providers",
    "model": "models",
    "category": "categories",
    "source": "sources",
    "api_key_id": "api_key_ids",
    "team_id": "team_ids",
}
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000

_SCALARS: Final = ("start", "end", "since", "bucket", "reference_model")
_UNIX: Final = re.compile(r"\d{1,11}(?:\.\d{1,9})?")
_SINCE: Final = re.compile(r"([1-9]\d{0,5})([smhdw])")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LIMIT: Final = re.compile(r"\d{1,9}")
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_LEN: Final = 256


@dataclass(frozen=True)
class CostQuery:
    """A validated cost/usage query; empty filters match everything."""

    # Inclusive start; None means the beginning of the ledger.
    start: dt.datetime | None = None
    # Exclusive end; None means now.
    end: dt.datetime | None = None
    # Dimensions to group by, from DIMENSIONS, without repeats.
    group_by: tuple[str, ...] = ()
    # "hour" or "day" to add time buckets; None for none.
    bucket: str | None = None
    # Model to compare against for savings; empty for the metrics service's default.
    reference_model: str = ""
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()
    # Teams of the keys (the ledger's team_id, a key's ``team``).
    team_ids: tuple[str, ...] = ()
    # Most fallback events to list (``/v1/usage`` only).
    limit: int = DEFAULT_LIMIT


def parse_cost_query(
    items: Sequence[tuple[str, str]], *, now: dt.datetime, with_limit: bool = False
) -> CostQuery:
    """Validate the (name, value) pairs of a query string; ``with_limit`` allows ``limit``."""
    known = {*_SCALARS, "group_by", *FILTERS, *(("limit",) if with_limit else ())}
    values: dict[str, list[str]] = {}
    for name, value in items:
        if name not in known:
            raise InvalidRequest(f"Unrecognized query parameter: '{name}'.", name)
        values.setdefault(name, []).append(value)
    scalars = {name: _single(values, name) for name in (*_SCALARS, "limit")}

    start = parse_time(scalars["start"], "start")
    end = parse_time(scalars["end"], "end")
    if scalars["since"] is not None:
        if start is not None:
            raise InvalidRequest("Give either 'start' or 'since', not both.", "since")
        end = end or now
        try:
            start = end - _duration(scalars["since"])
        except OverflowError:  # further back than year 1: the whole ledger
            start = dt.datetime.min.replace(tzinfo=dt.UTC)
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("Invalid 'end': it must be later than the start of the window.", "end")

    bucket = scalars["bucket"]
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidRequest(
            f"Invalid value for 'bucket': {bucket!r} is not one of 'hour', 'day'.", "bucket"
        )
    group_by = _list(values, "group_by")
    for dimension in group_by:
        if dimension not in DIMENSIONS:
            shown = ", ".join(f"'{d}'" for d in DIMENSIONS)
            raise InvalidRequest(
                f"Invalid value for 'group_by': {dimension!r} is not one of {shown}.", "group_by"
            )
    reference_model = (scalars["reference_model"] or "").strip()
    if len(reference_model) > _MAX_LEN:
        raise InvalidRequest(
            f"Invalid 'reference_model': longer than {_MAX_LEN} characters.", "reference_model"
        )
    filters = {field: _list(values, name) for name, field in FILTERS.items()}
    return CostQuery(
        start=start,
        end=end,
        group_by=tuple(dict.fromkeys(group_by)),
        bucket=bucket,
        reference_model=reference_model,
        limit=_limit(scalars["limit"]),
        **filters,
    )


def scoped(query: CostQuery, api_key_id: str | None, admin: bool, team_id: str = "") -> CostQuery:
    """``query`` limited to the caller's key ``api_key_id`` unless the caller is an admin.

    Raises PermissionDenied naming ``api_key_id`` when a non-admin names another key, or
    ``team_id`` when it names a team other than its own ``team_id`` (its own team only
    narrows its own usage further).
    """
    if admin:
        return query
    others = sorted(set(query.team_ids) - {team_id})
    if others:
        raise PermissionDenied(
            f"You have insufficient permissions to read the usage of team '{others[0][:64]}': "
            "a key sees only its own usage unless it is an admin key.",
            "team_id",
        )
    return dataclasses.replace(
        query, api_key_ids=own_keys(query.api_key_ids, api_key_id, admin, "api_key_id")
    )


def own_keys(
    asked: tuple[str, ...], api_key_id: str | None, admin: bool, param: str
) -> tuple[str, ...]:
    """The key ids a caller may read usage of, given those it ``asked`` for (by query
    parameter ``param``): as asked for an admin, else its own key alone.

    Raises PermissionDenied naming ``param`` when a non-admin names another key.
    """
    if admin:
        return asked
    own = api_key_id or ""
    others = sorted(set(asked) - {own})
    if others:
        raise PermissionDenied(
            f"You have insufficient permissions to read the usage of API key '{others[0][:64]}': "
            "a key sees only its own usage unless it is an admin key.",
            param,
        )
    return (own,)


def _single(values: dict[str, list[str]], name: str) -> str | None:
    given = values.get(name)
    if not given:
        return None
    if len(given) > 1:
        raise InvalidRequest(f"Invalid '{name}': given more than once.", name)
    return given[0]


def _list(values: dict[str, list[str]], name: str) -> tuple[str, ...]:
    items = [part.strip() for value in values.get(name, ()) for part in value.split(",")]
    for item in items:
        if len(item) > _MAX_LEN:
            raise InvalidRequest(f"Invalid '{name}': a value is longer than {_MAX_LEN}.", name)
    return tuple(item for item in items if item)


def parse_time(text: str | None, name: str) -> dt.datetime | None:
    """Query parameter ``name``, ISO 8601 or unix seconds, as an aware UTC datetime (None when
    absent); raises InvalidRequest naming ``name``."""
    if text is None:
        return None
    text = text.strip()
    if _UNIX.fullmatch(text):
        return _EPOCH + dt.timedelta(seconds=float(text))
    try:
        # RFC 3339 allows lower-case 't' and 'z'; fromisoformat does not.
        value = dt.datetime.fromisoformat(text.upper() if len(text) <= 64 else "")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"Invalid '{name}': expected an ISO 8601 time (e.g. 2026-11-01T00:00:00Z) or unix "
            f"seconds, got {text[:64]!r}.",
            name,
        ) from None


def _duration(text: str) -> dt.timedelta:
    match = _SINCE.fullmatch(text.strip())
    if match is None:
        raise InvalidRequest(
            "Invalid 'since': expected a number and a unit (s, m, h, d, w), e.g. 24h or 7d.",
            "since",
        )
    return dt.timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(text.strip()) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidRequest(
            f"Invalid 'limit': expected an integer from 1 to {MAX_LIMIT}.", "limit"
        )
    return int(text)
