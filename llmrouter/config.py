"""Typed configuration: frozen dataclasses built from one TOML file plus environment overrides.

Each service declares its section as a frozen dataclass (one docstring-like comment per field)
and calls :func:`load_section`. Invalid input fails at start with a :class:`ConfigError` whose
message names the key, e.g. ``router.port: expected an integer, got 'abc'``.

Environment overrides: every scalar (or list-of-strings) field of a section can be set with
``LLMROUTER_<SECTION>_<FIELD>`` (upper case), e.g. ``LLMROUTER_ROUTER_PORT=6000``. Lists are
comma-separated. Secrets are never read from the file: fields holding secrets name an
environment variable instead (``api_key_env``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "CONFIG_ENV",
    "ConfigError",
    "build",
    "env_names",
    "load_section",
    "read_file",
]

CONFIG_ENV = "LLMROUTER_CONFIG"
ENV_PREFIX = "LLMROUTER_"
# Longest environment value an error message quotes (tokens are longer).
_QUOTED_ENV_CHARS = 16

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the dotted key at fault."""


def read_file(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Read the TOML file at ``path`` (or ``$LLMROUTER_CONFIG``); no file means defaults."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    if not chosen:
        return {}
    file = Path(chosen)
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None


def load_section(
    cls: type[T],
    section: str,
    document: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build section ``section`` of ``document`` as ``cls``, applying environment overrides."""
    raw = document.get(section, {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{section}: expected a table")
    merged = dict(raw)
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f"{ENV_PREFIX}{section.upper()}_{field.name.upper()}"
        if name in env and _is_env_settable(hints[field.name]):
            merged[field.name] = _from_env(env[name], hints[field.name], name)
    return build(cls, merged, section)


def env_names(cls: type[Any], section: str) -> set[str]:
    """All environment variable names that override fields of ``cls`` in ``section``."""
    hints = typing.get_type_hints(cls)
    return {
        f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"
        for f in dataclasses.fields(cls)
        if _is_env_settable(hints[f.name])
    }


def build(cls: type[T], data: Any, path: str) -> T:
    """Validate ``data`` against dataclass ``cls``; errors name the dotted ``path`` of the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a table, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{path}.{key}: unknown key (known keys: {known})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key_path = f"{path}.{name}"
        if name in data:
            values[name] = _coerce(data[name], hints[name], key_path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key_path}: missing required value")
    try:
        return cls(**values)
    except ConfigError as exc:
        # __post_init__ checks name keys relative to their own table.
        raise ConfigError(f"{path}.{exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _coerce(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        item = args[0]
        return tuple(_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {_show(value)}")
        vt = args[1] if args else Any
        return {str(k): _coerce(v, vt, f"{path}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {_show(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {_show(value)}")
        number = float(value)
        if not math.isfinite(number):
            # TOML and the environment spell inf and nan; no timing, size or price takes them
            # (an infinite ejection overflows the breaker, a nan timeout never fires).
            raise ConfigError(f"{path}: must be a finite number, got {number}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {_show(value)}")
        return value
    raise ConfigError(f"{path}: unsupported config type {hint!r}")  # a bug in our dataclass


def _is_env_settable(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return all(_is_env_settable(a) for a in args if a is not type(None))
    if origin is tuple:
        return args[0] in (str, int, float)
    return hint in (str, int, float, bool)


def _from_env(text: str, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return None if text == "" else _from_env(text, inner, name)
    try:
        if origin is tuple:
            return [_from_env(p.strip(), args[0], name) for p in text.split(",") if p.strip()]
        if hint is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[hint]
        # Long values are not quoted: a token set in the wrong variable would be printed.
        shown = repr(text) if len(text) <= _QUOTED_ENV_CHARS else f"{len(text)} characters"
        raise ConfigError(f"{name}: expected {kind}, got {shown}") from None
    return text


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
