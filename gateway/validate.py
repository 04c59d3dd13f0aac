"""Type and range checks on JSON values decoded from a request body.

Each check raises :class:`~gateway.errors.InvalidRequest` whose ``param`` is the dotted path of
the value (``messages[2].content[0].image_url.url``) and whose message reads like OpenAI's.
``None`` (JSON null) counts as "not given" for the ``optional_*`` helpers, as OpenAI treats it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gateway.errors import InvalidRequest
from llmrouter.chat_rules import Range

__all__ = [
    "check_length",
    "expect_bool",
    "expect_int",
    "expect_list",
    "expect_number",
    "expect_object",
    "expect_one_of",
    "expect_str",
    "expect_string_map",
    "join",
    "optional_bool",
    "optional_int",
    "optional_number",
    "optional_object",
    "optional_str",
    "required",
]


# Integral floats up to this size are exact; beyond it, 2**63 + 1 and 2**63 read the same.
_EXACT_FLOAT_INT = 2**53


def join(parent: str, key: str | int) -> str:
    """The path of ``key`` inside ``parent`` (``messages`` + 2 -> ``messages[2]``)."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def describe(value: Any) -> str:
    """The JSON kind of ``value`` with an article, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__  # pragma: no cover - orjson yields only JSON kinds


def _wrong_type(value: Any, expected: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {describe(value)} instead.",
        param,
    )


def required(obj: Mapping[str, Any], key: str, parent: str = "") -> Any:
    """``obj[key]``; absent or null is a missing required parameter."""
    value = obj.get(key)
    if value is None:
        param = join(parent, key)
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param)
    return value


def expect_object(value: Any, param: str) -> dict[str, Any]:
    """``value`` as a JSON object."""
    if not isinstance(value, dict):
        raise _wrong_type(value, "an object", param)
    return value


def expect_list(value: Any, param: str) -> list[Any]:
    """``value`` as a JSON array."""
    if not isinstance(value, list):
        raise _wrong_type(value, "an array", param)
    return value


def expect_str(value: Any, param: str, *, non_empty: bool = False) -> str:
    """``value`` as a string (optionally not empty)."""
    if not isinstance(value, str):
        raise _wrong_type(value, "a string", param)
    if non_empty and not value:
        raise InvalidRequest(
            f"Invalid '{param}': empty string. Expected a non-empty string.", param
        )
    return value


def check_length(text: str, param: str, max_length: int) -> str:
    """``text`` when it has at most ``max_length`` characters; else OpenAI's
    ``string_above_max_length`` error naming ``param``."""
    if len(text) > max_length:
        raise InvalidRequest(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{max_length}, but got a string with length {len(text)} instead.",
            param,
            code="string_above_max_length",
        )
    return text


def expect_string_map(
    value: Any, param: str, *, max_pairs: int, max_key_length: int, max_value_length: int
) -> dict[str, str]:
    """``value`` as an object of at most ``max_pairs`` string values, keys and values within
    their lengths (OpenAI's ``metadata`` rules). A key too long is reported on ``param`` (the key
    may be long; it is not quoted), a value on ``param.key``."""
    obj = expect_object(value, param)
    if len(obj) > max_pairs:
        raise InvalidRequest(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{max_pairs} properties, but got an object with {len(obj)} properties instead.",
            param,
            code="object_above_max_properties",
        )
    for key, item in obj.items():
        if len(key) > max_key_length:
            raise InvalidRequest(
                f"Invalid '{param}': key too long. Expected keys with maximum length "
                f"{max_key_length}, but got a key with length {len(key)} instead.",
                param,
                code="string_above_max_length",
            )
        check_length(expect_str(item, join(param, key)), join(param, key), max_value_length)
    return obj


def expect_bool(value: Any, param: str) -> bool:
    """``value`` as a boolean (0 and 1 are not booleans)."""
    if not isinstance(value, bool):
        raise _wrong_type(value, "a boolean", param)
    return value


def expect_int(value: Any, param: str, within: Range | None = None) -> int:
    """``value`` as an integer within ``within`` (if given); ``2.0`` counts, as JSON Schema
    says (some JSON encoders write every number with a fraction)."""
    if isinstance(value, float) and value.is_integer():
        if abs(value) > _EXACT_FLOAT_INT:
            # The JSON parser read an integer beyond 64 bits as a float: its exact value is lost.
            raise InvalidRequest(f"Invalid '{param}': integer out of range.", param)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(value, "an integer", param)
    if within is not None:
        _check_range(value, param, within)
    return value


def expect_number(value: Any, param: str, within: Range | None = None) -> float:
    """``value`` as a number within ``within`` (if given)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(value, "a number", param)
    if within is not None:
        _check_range(value, param, within)
    return float(value)


def expect_one_of(value: Any, param: str, choices: Collection[str]) -> str:
    """``value`` as one of the strings ``choices``."""
    text = expect_str(value, param)
    if text not in choices:
        shown = ", ".join(f"'{c}'" for c in choices)
        raise InvalidRequest(f"Invalid value for '{param}': '{text}' is not one of {shown}.", param)
    return text


def optional_object(obj: Mapping[str, Any], key: str, parent: str = "") -> dict[str, Any] | None:
    """``obj[key]`` as an object, or None when absent or null."""
    value = obj.get(key)
    return None if value is None else expect_object(value, join(parent, key))


def optional_str(obj: Mapping[str, Any], key: str, parent: str = "") -> str | None:
    """``obj[key]`` as a string, or None when absent or null."""
    value = obj.get(key)
    return None if value is None else expect_str(value, join(parent, key))


def optional_bool(obj: Mapping[str, Any], key: str, parent: str = "") -> bool | None:
    """``obj[key]`` as a boolean, or None when absent or null."""
    value = obj.get(key)
    return None if value is None else expect_bool(value, join(parent, key))


def optional_int(
    obj: Mapping[str, Any], key: str, parent: str = "", *, within: Range | None = None
) -> int | None:
    """``obj[key]`` as an integer within ``within``, or None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    return expect_int(value, join(parent, key), within)


def optional_number(
    obj: Mapping[str, Any], key: str, parent: str = "", *, within: Range | None = None
) -> float | None:
    """``obj[key]`` as a number within ``within``, or None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    return expect_number(value, join(parent, key), within)


def _check_range(value: float, param: str, within: Range) -> None:
    # Range.below/above inlined: this runs for every number of every request.
    low, high = within.minimum, within.maximum
    if low is not None and value < low:
        raise InvalidRequest(
            f"Invalid '{param}': {value} is less than the minimum of {low}.", param
        )
    if high is not None and value > high:
        raise InvalidRequest(
            f"Invalid '{param}': {value} is greater than the maximum of {high}.", param
        )
