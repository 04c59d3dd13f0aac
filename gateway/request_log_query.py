"""The query string of ``GET /v1/requests`` (and its CSV export), validated into a LogQuery.

Parameters: ``key``, ``model``, ``status``, ``category`` (lists: repeat the parameter, use
commas, or both), ``start`` / ``end`` (ISO 8601, UTC when no offset is given, or unix seconds;
they bound the time of each request's first attempt), ``limit`` and ``page_token``; the CSV
export also takes ``format=csv`` on ``/v1/requests``. Every mistake is an InvalidRequest naming
the parameter; unknown parameters are mistakes too, so a typo never silently widens the list.

A key that is not an admin key sees only its own requests: ``key`` may name only itself, and
naming another is a 403 (:func:`gateway.usage_query.own_keys`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.errors import InvalidRequest
from gateway.usage_query import own_keys, parse_time

__all__ = [
    "CSV_DEFAULT_ROWS",
    "CSV_MAX_ROWS",
    "DEFAULT_LIMIT",
    "LIST_PARAMS",
    "MAX_LIMIT",
    "STATUSES",
    "TOKEN_MAX_CHARS",
    "LogQuery",
    "parse_log_query",
]

#: Entries per page of ``GET /v1/requests`` unless ``limit`` says otherwise, and the most.
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
#: Rows of a CSV export unless ``limit`` says otherwise, and the most one export holds.
CSV_DEFAULT_ROWS: Final = 10_000
CSV_MAX_ROWS: Final = 100_000
#: A request's final status, as ``status`` names it.
STATUSES: Final = ("succeeded", "failed", "cancelled")
#: List parameter -> LogQuery field.
LIST_PARAMS: Final = {
    "key": "api_key_ids",
    "model": "models",
    "status": "statuses",
    "category": "categories",
}
#: Longest page token accepted (the metrics service's are about 100 characters).
TOKEN_MAX_CHARS: Final = 1024

_SCALARS: Final = ("start", "end", "limit", "page_token", "format")
_FORMATS: Final = ("json", "csv")
_LIMIT: Final = re.compile(r"\d{1,9}")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]*")
_MAX_LEN: Final = 256


@dataclass(frozen=True)
class LogQuery:
    """A validated request-log query; empty filters match everything."""

    #: Inclusive start of the first attempt's time; None means the beginning of the ledger.
    start: dt.datetime | None = None
    #: Exclusive end; None means no upper bound.
    end: dt.datetime | None = None
    api_key_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    #: From STATUSES.
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: Entries of this page (JSON) or rows of the whole export (CSV).
    limit: int = DEFAULT_LIMIT
    #: ``next_page_token`` of the previous page; "" for the first.
    page_token: str = ""
    #: "json" or "csv".
    format: str = "json"


def parse_log_query(
    items: Sequence[tuple[str, str]],
    *,
    api_key_id: str | None,
    admin: bool,
    csv: bool = False,
) -> LogQuery:
    """Validate the (name, value) pairs of a query string and scope them to the caller.

    ``csv`` is True on ``/v1/requests.csv`` (``format`` is then not a parameter); ``limit``
    counts a CSV export's rows (default :data:`CSV_DEFAULT_ROWS`, at most :data:`CSV_MAX_ROWS`).
    Raises InvalidRequest (400) naming the parameter, PermissionDenied (403) when a non-admin
    names another key.
    """
    known = {*LIST_PARAMS, *_SCALARS} - ({"format"} if csv else set())
    values: dict[str, list[str]] = {}
    for name, value in items:
        if name not in known:
            raise InvalidRequest(f"Unrecognized query parameter: '{name}'.", name)
        values.setdefault(name, []).append(value)
    scalars = {name: _single(values, name) for name in _SCALARS}

    start = parse_time(scalars["start"], "start")
    end = parse_time(scalars["end"], "end")
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("Invalid 'end': it must be later than the start of the window.", "end")
    form = "csv" if csv else (scalars["format"] or "json")
    if form not in _FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'format': {form[:64]!r} is not one of 'json', 'csv'.", "format"
        )
    lists = {field: _list(values, name) for name, field in LIST_PARAMS.items()}
    for status in lists["statuses"]:
        if status not in STATUSES:
            shown = ", ".join(f"'{s}'" for s in STATUSES)
            raise InvalidRequest(
                f"Invalid value for 'status': {status[:64]!r} is not one of {shown}.", "status"
            )
    token = scalars["page_token"] or ""
    if len(token) > TOKEN_MAX_CHARS or not _TOKEN.fullmatch(token):
        raise InvalidRequest(
            "Invalid 'page_token': pass the next_page_token of the previous page as it is.",
            "page_token",
        )
    most, default = (MAX_LIMIT, DEFAULT_LIMIT)
    if form == "csv":
        most, default = CSV_MAX_ROWS, CSV_DEFAULT_ROWS
    query = LogQuery(
        start=start,
        end=end,
        limit=_limit(scalars["limit"], most, default),
        page_token=token,
        format=form,
        **lists,
    )
    keys = own_keys(query.api_key_ids, api_key_id, admin, "key")
    return dataclasses.replace(query, api_key_ids=keys)


def _single(values: dict[str, list[str]], name: str) -> str | None:
    given = values.get(name)
    if not given:
        return None
    if len(given) > 1:
        raise InvalidRequest(f"Invalid '{name}': given more than once.", name)
    return given[0]


def _list(values: dict[str, list[str]], name: str) -> tuple[str, ...]:
    parts = [part for value in values.get(name, ()) for part in value.split(",")]
    for part in parts:
        # Measured as sent (the document's maxLength), before blanks are trimmed.
        if len(part) > _MAX_LEN:
            raise InvalidRequest(f"Invalid '{name}': a value is longer than {_MAX_LEN}.", name)
    return tuple(dict.fromkeys(item for part in parts if (item := part.strip())))


def _limit(text: str | None, most: int, default: int) -> int:
    if text is None:
        return default
    if not _LIMIT.fullmatch(text.strip()) or not 1 <= int(text) <= most:
        raise InvalidRequest(f"Invalid 'limit': expected an integer from 1 to {most}.", "limit")
    return int(text)
