"""JSON answers of the simulated provider: an instance of the asked JSON schema, or a small
object for ``json_object``, drawn from a generator seeded by the request (the same request
gives the same JSON in every process).

The generator covers what structured-output schemas use (OpenAI's supported subset, and what
pydantic writes for the SDKs' ``parse`` helpers): ``type`` (one or a list), ``properties`` /
``required``, ``items`` / ``prefixItems`` with ``minItems`` / ``maxItems``, ``enum``,
``const``, ``anyOf`` / ``oneOf`` / ``allOf``, local ``$ref`` (``#/$defs/...``,
``#/definitions/...``), integer and number bounds (inclusive and exclusive, ``multipleOf``),
string ``minLength`` / ``maxLength`` and the common ``format`` values. It refuses nothing: what
it does not know (a ``pattern``) gets a plain value of the type.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from typing import Any

from ..chat import ChatRequest, ResponseFormat

__all__ = ["json_answer", "schema_instance"]

_WORDS = ("simulated", "routing", "answer", "model", "token", "budget", "latency", "quality")
# Nesting beyond this many levels takes the smallest instance (recursive schemas end).
_MAX_DEPTH = 12
# Items of an array without bounds.
_DEFAULT_ITEMS = 2
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "simulated@example.com",
    "uri": "https://example.com/simulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}


def json_answer(model: str, request: ChatRequest, fmt: ResponseFormat) -> str:
    """The JSON text answering ``request`` in ``fmt`` (json_schema: an instance of its
    ``schema``; json_object or a schema that cannot be read: a small object), seeded by the
    model, the messages and the format."""
    digest = hashlib.blake2b(
        "\x00".join(
            [model, fmt.type, fmt.json_schema, *(f"{m.role}:{m.text()}" for m in request.messages)]
        ).encode(),
        digest_size=8,
    ).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    schema: Any = None
    if fmt.type == "json_schema" and fmt.json_schema:
        try:
            schema = json.loads(fmt.json_schema).get("schema")
        except (ValueError, AttributeError):
            schema = None
    if isinstance(schema, dict):
        value = schema_instance(schema, rng)
    else:
        value = {"simulated": True, "model": model, "answer": _text(rng, 1, 40)}
    return json.dumps(value, ensure_ascii=False)


def schema_instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value valid against ``schema`` (draws from ``rng``)."""
    return _Draw(schema, rng).value(schema, 0)


class _Draw:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self._root = root
        self._rng = rng

    def value(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, dict):
            return None if schema is False else "simulated"
        if isinstance(ref := schema.get("$ref"), str):
            return self.value(self._resolve(ref), depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(enum := schema.get("enum"), list) and enum:
            return self._rng.choice(enum)
        for key in ("anyOf", "oneOf"):
            if isinstance(options := schema.get(key), list) and options:
                return self.value(self._option(options, depth), depth + 1)
        if isinstance(parts := schema.get("allOf"), list) and parts:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                part = self._resolve(part["$ref"]) if "$ref" in part else part
                merged = {**part, **merged} if isinstance(part, dict) else merged
            return self.value(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0] if depth > _MAX_DEPTH else self._rng.choice(kinds)
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else ""
        match kind:
            case "object":
                return self._object(schema, depth)
            case "array":
                return self._array(schema, depth)
            case "integer":
                return self._integer(schema)
            case "number":
                return self._number(schema)
            case "boolean":
                return self._rng.random() < 0.5
            case "null":
                return None
            case _:
                return self._string(schema)

    def _resolve(self, ref: str) -> Any:
        node: Any = self._root
        if ref.startswith("#"):
            for part in ref.lstrip("#").strip("/").split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    def _option(self, options: list[Any], depth: int) -> Any:
        if depth > _MAX_DEPTH:  # a recursive schema: end with null where allowed
            for option in options:
                if isinstance(option, dict) and option.get("type") == "null":
                    return option
        return self._rng.choice(options)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = list(properties)
        if depth > _MAX_DEPTH and isinstance(required, list):
            names = [n for n in names if n in required]
        out = {name: self.value(properties[name], depth + 1) for name in names}
        for name in required if isinstance(required, list) else ():
            if name not in out:  # required without a property schema
                out[name] = "simulated"
        return out

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = low if depth > _MAX_DEPTH else max(low, _DEFAULT_ITEMS)
        if isinstance(high, int):
            count = min(count, high)
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        return [
            self.value(prefix[i] if i < len(prefix) else items, depth + 1) for i in range(count)
        ]

    def _bounds(self, schema: dict[str, Any], step: float) -> tuple[float, float]:
        low = float(schema.get("minimum", -math.inf))
        high = float(schema.get("maximum", math.inf))
        if isinstance(exclusive := schema.get("exclusiveMinimum"), int | float):
            low = max(low, exclusive + step)
        if isinstance(exclusive := schema.get("exclusiveMaximum"), int | float):
            high = min(high, exclusive - step)
        if math.isinf(low) and math.isinf(high):
            low, high = 0.0, 100.0
        elif math.isinf(low):
            low = high - 100.0
        elif math.isinf(high):
            high = low + 100.0
        return low, max(low, high)

    def _integer(self, schema: dict[str, Any]) -> int:
        low, high = self._bounds(schema, 1.0)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int) and multiple > 0:
            first, last = math.ceil(low / multiple), math.floor(high / multiple)
            return self._rng.randint(first, max(first, last)) * multiple
        return self._rng.randint(math.ceil(low), max(math.ceil(low), math.floor(high)))

    def _number(self, schema: dict[str, Any]) -> float:
        low, high = self._bounds(schema, 1e-9)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int | float) and multiple > 0:
            first, last = math.ceil(low / multiple), math.floor(high / multiple)
            return float(self._rng.randint(first, max(first, last)) * multiple)
        return round(self._rng.uniform(low, high), 6) if high > low else low

    def _string(self, schema: dict[str, Any]) -> str:
        if isinstance(fmt := schema.get("format"), str) and fmt in _FORMATS:
            return _FORMATS[fmt]
        low = int(schema.get("minLength", 1))
        high = schema.get("maxLength")
        return _text(self._rng, low, int(high) if isinstance(high, int) else max(low, 40))


def _text(rng: random.Random, low: int, high: int) -> str:
    """Words of :data:`_WORDS`, ``low`` to ``high`` characters long."""
    text = ""
    while len(text) < max(low, 1) or (len(text) < min(high, 24) and rng.random() < 0.7):
        text = f"{text} {rng.choice(_WORDS)}".strip()
    text = text[:high]
    return text + "x" * (low - len(text))
