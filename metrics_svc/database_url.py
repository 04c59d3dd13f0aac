"""Database URLs as operators write them, mapped to the async drivers the ledger runs on.

``postgresql://`` and ``postgres://`` (libpq's and psql's spelling, as hosting providers hand
them out) become ``postgresql+asyncpg://``; libpq's ``sslmode`` becomes asyncpg's ``ssl`` (the
same six modes: asyncpg.connect documents ``ssl`` taking libpq's sslmode names).
``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``. URLs already naming these drivers
are taken as written. Every other scheme or driver is refused: the service is asynchronous
and tested on these two drivers only.

Messages never quote the URL: it may hold a password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["SSL_MODES", "DatabaseUrlError", "async_url"]

#: libpq's sslmode values, which asyncpg's ``ssl`` accepts as they are.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

_POSTGRES = ("postgresql", "postgres", "postgresql+asyncpg")
_SQLITE = ("sqlite", "sqlite+aiosqlite")
# Query parameters passed to asyncpg.connect as they are (strings it takes by keyword).
_PASSED = ("ssl", "target_session_attrs")
# libpq parameters naming files; asyncpg reads the same settings from libpq's variables.
_FILE_PARAMETERS = {
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
}
_ACCEPTED = "postgresql://, postgres:// or sqlite:///path"


class DatabaseUrlError(ValueError):
    """A database URL the ledger cannot use; the message never quotes the URL."""


def async_url(url: str) -> URL:
    """``url`` with its async driver: postgresql+asyncpg or sqlite+aiosqlite.

    Raises :class:`DatabaseUrlError` for an unparseable URL, another database or driver, or a
    query parameter asyncpg cannot take.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            f"not a database URL (expected {_ACCEPTED}, e.g. postgresql://user@host:5432/db)"
        ) from None
    scheme = parsed.drivername
    if scheme in _SQLITE:
        return parsed.set(drivername="sqlite+aiosqlite")
    if scheme not in _POSTGRES:
        raise DatabaseUrlError(
            f"unsupported scheme {scheme!r}: use {_ACCEPTED} (the ledger runs on PostgreSQL "
            "through asyncpg or on SQLite through aiosqlite)"
        )
    return parsed.set(drivername="postgresql+asyncpg", query=_asyncpg_query(parsed))


def _asyncpg_query(parsed: URL) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parsed.query.items():
        if not isinstance(value, str):
            raise DatabaseUrlError(f"query parameter {name!r} is given more than once")
        if name in _FILE_PARAMETERS:
            raise DatabaseUrlError(
                f"{name} is not taken in the URL: set the environment variable "
                f"{_FILE_PARAMETERS[name]} to the file instead (asyncpg reads it)"
            )
        if name in ("sslmode", "ssl"):
            if "ssl" in query:
                raise DatabaseUrlError("set one of sslmode and ssl, not both")
            if value not in SSL_MODES:
                shown = repr(value) if len(value) <= 16 else f"{len(value)} characters"
                raise DatabaseUrlError(f"{name} must be one of {', '.join(SSL_MODES)}, got {shown}")
            query["ssl"] = value
        elif name in _PASSED:
            query[name] = value
        else:
            accepted = ", ".join(("sslmode", *_PASSED))
            raise DatabaseUrlError(
                f"unsupported query parameter {name!r} for PostgreSQL (accepted: {accepted})"
            )
    return query
