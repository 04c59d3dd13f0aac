"""Building blocks of the gateway's JSON Schemas (OpenAPI 3.1 uses JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "INTEGER",
    "NUMBER",
    "OPT_STRING",
    "STRING",
    "TIME",
    "obj",
    "ref",
]

STRING: Final = {"type": "string"}
OPT_STRING: Final = {"type": ["string", "null"]}
INTEGER: Final = {"type": "integer"}
NUMBER: Final = {"type": "number"}
# A time as the gateway writes it: ISO 8601 UTC, or null when unknown.
TIME: Final = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    """A reference to ``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object schema with these ``required`` keys and ``properties`` (others allowed)."""
    return {"type": "object", "required": required, "properties": properties, **extra}
