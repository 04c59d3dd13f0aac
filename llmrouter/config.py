"""Typed configuration: frozen dataclasses built from one TOML file plus environment overrides.

Each service declares its section as a frozen dataclass (one docstring-like comment per field)
and calls :func:`load_section`. Invalid input fails at start with a :class:`ConfigError` whose
message names the key, e.g. ``router.port: expected an integer, got 'abc'``.

Environment overrides (:mod:`llmrouter.config_env`): every key of a section, nested tables
included, can be set with ``LLMROUTER_`` plus its dotted path, ``.`` as ``_``, upper case, e.g.
``LLMROUTER_ROUTER_PORT=6000`` or ``LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL=3``. Lists are
comma-separated; arrays of tables are file-only. Unknown variables, sections and keys are
errors. Secrets are never read from the file: fields holding secrets name an environment
variable instead (``api_key_env``).

Which file: :func:`config_path` (``--config``, else ``$LLMROUTER_CONFIG``, else
``./llmrouter.toml`` for the ``llmrouter`` command).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ConfigError",
    "build",
    "closest",
    "config_path",
    "env_names",
    "load_section",
    "read_file",
]

CONFIG_ENV = "LLMROUTER_CONFIG"
ENV_PREFIX = "LLMROUTER_"
#: The file the ``llmrouter`` command reads when neither --config nor $LLMROUTER_CONFIG is set.
DEFAULT_CONFIG_FILE = "llmrouter.toml"

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the dotted key at fault."""


def config_path(
    flag: str | None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> str | None:
    """The config file every ``llmrouter`` command reads: ``flag`` (``--config``), else
    ``$LLMROUTER_CONFIG``, else ``./llmrouter.toml`` when ``cwd`` (default: the current
    directory) holds one; None means built-in defaults.

    Services started by ``llmrouter`` get the chosen path as ``--config``, so every process of
    a stack reads the same file.
    """
    if flag:
        return flag
    env = os.environ if environ is None else environ
    if chosen := env.get(CONFIG_ENV, "").strip():
        return chosen
    default = Path(cwd if cwd is not None else ".") / DEFAULT_CONFIG_FILE
    return str(default) if default.is_file() else None


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
    *,
    shortcuts: Mapping[str, str] | None = None,
) -> T:
    """Build section ``section`` of ``document`` as ``cls``, applying environment overrides.

    ``shortcuts`` are the section's variables its loader reads itself, each mapped to the key
    it adds to (``{"LLMROUTER_ROUTER_AUTH_TOKENS": "auth_tokens"}``). ConfigError for an
    unknown section, key or ``LLMROUTER_*`` variable (:mod:`llmrouter.config_env`), or an
    invalid value.
    """
    # config_env builds on this module (ConfigError, the prefix), hence imported here.
    from .config_env import apply_environment, check_environment, check_sections, with_origin

    check_sections(document)
    raw = document.get(section, {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{section}: expected a table")
    env = os.environ if environ is None else environ
    check_environment(cls, section, env, document=document, shortcuts=shortcuts)
    merged, origins = apply_environment(cls, section, raw, env)
    try:
        return build(cls, merged, section)
    except ConfigError as exc:
        raise with_origin(exc, origins) from None


def env_names(cls: type[Any], section: str) -> set[str]:
    """All environment variable names that override keys of ``cls`` in ``section``, nested
    tables' keys included."""
    from .config_env import env_keys

    return {name for name, key in env_keys(cls, section).items() if key.kind == "value"}


def build(cls: type[T], data: Any, path: str) -> T:
    """Validate ``data`` against dataclass ``cls``; errors name the dotted ``path`` of the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a table, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            close = closest(str(key), fields)
            listed = ", ".join(sorted(fields))
            known = f"did you mean {close}?" if close else f"known keys: {listed}"
            raise ConfigError(f"{path}.{key}: unknown key ({known})")
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


def closest(name: str, known: Iterable[str], separator: str = "_") -> str | None:
    """The known name ``name`` most likely meant: the shortest that begins with it (a name cut
    short), else the closest by :func:`difflib.get_close_matches`; None when none is close."""
    names = [k for k in known if k != name]
    longer = sorted((k for k in names if k.startswith(name + separator)), key=len)
    if longer:
        return longer[0]
    close = difflib.get_close_matches(name, names, n=1)
    return close[0] if close else None


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


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
