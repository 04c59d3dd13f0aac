"""Environment overrides of config keys, derived from the config dataclasses, and the check
that every ``LLMROUTER_*`` variable and every table of the file means something.

Every key of a section, nested tables included, has one variable: ``LLMROUTER_`` plus its
dotted path with ``.`` turned into ``_``, upper case (``router.retry.attempts_per_model`` is
``LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL``). Its text is parsed by the key's type: true/false
(also 1/0, yes/no, on/off), integers, numbers, strings, and lists of those comma-separated; an
empty value clears an optional key. Arrays of tables (``[[router.models]]``, ``auth_tokens``,
``api_keys``) are set in the file only, or through their section's shortcut variable
(``LLMROUTER_ROUTER_AUTH_TOKENS``, ``LLMROUTER_GATEWAY_API_KEYS``...).

A service checks the variables of its own section (``LLMROUTER_ROUTER_*`` in the router) and
every ``LLMROUTER_*`` variable outside all sections; those of another section are that
service's to check (``llmrouter serve all`` loads all three, so it checks them all at once).
An unknown one stops the start with a message naming it and the closest known name.
Variables that are not config keys are accepted when listed in :data:`ALLOWED_VARIABLES`,
under :data:`ALLOWED_PREFIXES`, or named by the config as holding a secret (``*_env`` keys,
``auth_tokens`` entries).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .config import ENV_PREFIX, ConfigError, closest

__all__ = [
    "ALLOWED_PREFIXES",
    "ALLOWED_VARIABLES",
    "SECTIONS",
    "EnvKey",
    "apply_environment",
    "check_environment",
    "check_sections",
    "env_keys",
    "named_variables",
    "unknown_variables",
    "with_origin",
]

#: The tables of the config file, one per service.
SECTIONS = ("gateway", "metrics", "router", "state")

#: ``LLMROUTER_*`` variables that are not config keys, and who reads each.
ALLOWED_VARIABLES: Mapping[str, str] = {
    "LLMROUTER_CONFIG": "the config file (llmrouter.config.CONFIG_ENV)",
    "LLMROUTER_INFERENCE_TOKEN": "router token with the inference scope (serve all, compose)",
    "LLMROUTER_ADMIN_TOKEN": "router token with the admin scope (serve all, compose)",
    "LLMROUTER_RECORD_TOKEN": "metrics token with the record scope (serve all, compose)",
    "LLMROUTER_READ_TOKEN": "metrics token with the read scope (serve all, llmrouter costs)",
    "LLMROUTER_KEY": "the API key the banner's curl and `llmrouter keys`/`teams` send",
    "LLMROUTER_EVENT_LOOP": "'asyncio' turns uvloop off (llmrouter.serving, bench)",
    "LLMROUTER_SOAK": "tests/reliability at soak counts (make soak)",
    "LLMROUTER_SCREENSHOTS": "tests/dashboard writes docs/dashboard-*.png (make screenshots)",
    "LLMROUTER_REDIS_PASSWORD": "the Redis password that compose and the Kubernetes manifests "
    "name in state.redis_password_env",
}

#: Families of variables that are not config keys: no section is named TEST or KEY.
ALLOWED_PREFIXES: Mapping[str, str] = {
    "LLMROUTER_TEST_": "the test suites' own variables (LLMROUTER_TEST_PG_URL, fake keys)",
    "LLMROUTER_KEY_": "API keys' variables as the README names them (LLMROUTER_KEY_ALICE)",
}

Kind = Literal["value", "table", "file-only"]


@dataclass(frozen=True, slots=True)
class EnvKey:
    """One key of a section and the variable that sets it."""

    #: ``LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL``.
    variable: str
    #: Dotted key with its section: ``router.retry.attempts_per_model``.
    key: str
    #: Path inside the section: ``("retry", "attempts_per_model")``.
    path: tuple[str, ...]
    #: The field's type hint; the variable's text is parsed by it.
    hint: Any
    #: value: settable from the environment; table: a nested table (set its keys);
    #: file-only: an array of tables or a map, set in the file.
    kind: Kind


def env_keys(cls: type[Any], section: str) -> dict[str, EnvKey]:
    """Every key of dataclass ``cls`` as section ``section`` (nested tables walked), by its
    variable name. TypeError when two keys flatten to one name (a bug in the dataclasses)."""
    cached = _KEYS.get((cls, section))
    if cached is None:
        cached = {}
        _walk(cls, section, (), cached)
        _KEYS[(cls, section)] = cached
    return dict(cached)


# Built once per schema: every load walks the same dataclasses.
_KEYS: dict[tuple[type[Any], str], dict[str, EnvKey]] = {}


def _walk(cls: type[Any], section: str, prefix: tuple[str, ...], found: dict[str, EnvKey]) -> None:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        path = (*prefix, field.name)
        hint = hints[field.name]
        variable = ENV_PREFIX + "_".join((section, *path)).upper()
        table = _dataclass_of(hint)
        kind: Kind = "table" if table else "value" if _is_env_settable(hint) else "file-only"
        entry = EnvKey(variable, ".".join((section, *path)), path, hint, kind)
        if variable in found:
            raise TypeError(f"{entry.key} and {found[variable].key} both read {variable}")
        found[variable] = entry
        if table is not None:
            _walk(table, section, path, found)


def _dataclass_of(hint: Any) -> type[Any] | None:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _is_env_settable(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return all(_is_env_settable(a) for a in args if a is not type(None))
    if origin is tuple:
        return args[0] in (str, int, float, bool)
    return hint in (str, int, float, bool)


def check_sections(document: Mapping[str, Any]) -> None:
    """ConfigError naming the first top-level name of the file that is not a section."""
    for name, value in document.items():
        if name in SECTIONS:
            continue
        if isinstance(value, Mapping | list):
            close = difflib.get_close_matches(name, SECTIONS, n=1)
            hint = f"did you mean [{close[0]}]? " if close else ""
            raise ConfigError(f"{name}: unknown section ({hint}sections: {', '.join(SECTIONS)})")
        raise ConfigError(
            f"{name}: unknown top-level key; keys belong in a section: "
            + ", ".join(f"[{s}]" for s in SECTIONS)
        )


def named_variables(document: Mapping[str, Any], environ: Mapping[str, str]) -> set[str]:
    """Variables the config names as holding a secret: values of ``env``, ``*_env`` and
    ``*_envs`` keys anywhere in the file, of ``LLMROUTER_*_ENV(S)`` variables, and the names
    in ``LLMROUTER_*_AUTH_TOKENS`` shortcuts (``NAME:scope,...``)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(value, str) and (key == "env" or str(key).endswith("_env")):
                    names.add(value)
                elif str(key).endswith("_envs") and isinstance(value, list):
                    names.update(v for v in value if isinstance(v, str))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if name.endswith("_ENV"):
            names.add(value.strip())
        elif name.endswith("_ENVS"):
            names.update(part.strip() for part in value.split(","))
        elif name.endswith("_AUTH_TOKENS"):
            names.update(part.partition(":")[0].strip() for part in value.split(","))
    names.discard("")
    return names


def unknown_variables(
    cls: type[Any],
    section: str,
    environ: Mapping[str, str],
    *,
    document: Mapping[str, Any],
    shortcuts: Mapping[str, str] | None = None,
) -> list[str]:
    """One message per ``LLMROUTER_*`` variable of ``environ`` that section ``section``
    (dataclass ``cls``) does not accept, each naming the variable and the closest known name.

    Accepted: the section's keys; its ``shortcuts`` (variables its loader reads itself, each
    mapped to the key it adds to, e.g. ``{"LLMROUTER_ROUTER_AUTH_TOKENS": "auth_tokens"}``);
    :data:`ALLOWED_VARIABLES` and names under :data:`ALLOWED_PREFIXES`; variables the config
    names (:func:`named_variables`); variables of the other sections (their own service
    checks those).
    """
    keys = env_keys(cls, section)
    own = f"{ENV_PREFIX}{section.upper()}_"
    others = tuple(f"{ENV_PREFIX}{s.upper()}_" for s in SECTIONS if s != section)
    shortcut_names = dict(shortcuts or {})
    named: set[str] | None = None
    problems: list[str] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in shortcut_names:
            continue
        entry = keys.get(name)
        if entry is not None:
            if entry.kind == "table":
                example = next(k.variable for k in keys.values() if k.path[:-1] == entry.path)
                problems.append(
                    f"{name}: {entry.key} is a table; set its keys one by one, e.g. {example}"
                )
            elif entry.kind == "file-only":
                via = sorted(v for v, k in shortcut_names.items() if k == entry.path[-1])
                problems.append(
                    f"{name}: {entry.key} is a list of tables, set in the config file only"
                    + (f" (or with {' or '.join(via)})" if via else "")
                )
            continue
        if name in ALLOWED_VARIABLES or name.startswith(tuple(ALLOWED_PREFIXES)):
            continue
        if name.startswith(others):
            continue
        if named is None:
            named = named_variables(document, environ)
        if name in named:
            continue
        problems.append(_unknown(name, keys, own, shortcut_names))
    return problems


def _unknown(name: str, keys: Mapping[str, EnvKey], own: str, shortcuts: Iterable[str]) -> str:
    """The message for an unknown variable, with the closest known (or likely) name."""
    candidates = [k for k, v in keys.items() if v.kind == "value"]
    candidates += [*shortcuts, *ALLOWED_VARIABLES]
    rest = name[len(ENV_PREFIX) :]
    head, _, tail = rest.partition("_")
    if not name.startswith(own) and tail:
        # A misspelt section (ROUTR): the same key under the section it resembles.
        section = difflib.get_close_matches(head.lower(), SECTIONS, n=1)
        candidates += [f"{ENV_PREFIX}{s.upper()}_{tail}" for s in section]
    # Compared without the common prefix, which would make any two names look alike.
    close = closest(rest, {c[len(ENV_PREFIX) :] for c in candidates})
    if close:
        return f"{name}: unknown variable (did you mean {ENV_PREFIX}{close}?)"
    return (
        f"{name}: unknown variable (config keys are set as LLMROUTER_<SECTION>_<KEY>, "
        f"e.g. {own}PORT; see the README's Configuration section)"
    )


def check_environment(
    cls: type[Any],
    section: str,
    environ: Mapping[str, str],
    *,
    document: Mapping[str, Any],
    shortcuts: Mapping[str, str] | None = None,
) -> None:
    """ConfigError listing every unknown variable (:func:`unknown_variables`), if any."""
    problems = unknown_variables(cls, section, environ, document=document, shortcuts=shortcuts)
    if problems:
        raise ConfigError("; ".join(problems))


def apply_environment(
    cls: type[Any], section: str, raw: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Section ``raw`` (the file's table) with the environment's values put in, parsed by
    type; and which variable set each dotted key. ConfigError names the variable and key of
    a value that does not parse."""
    merged: dict[str, Any] = dict(raw)
    origins: dict[str, str] = {}
    for name, entry in env_keys(cls, section).items():
        if entry.kind != "value" or name not in environ:
            continue
        value = _from_env(environ[name], entry.hint, entry)
        node = merged
        for part in entry.path[:-1]:
            child = node.get(part, {})
            if not isinstance(child, Mapping):
                break  # the file holds no table here; build() says so, naming the key
            copied = dict(child)  # the file's table is left as it was read
            node[part] = copied
            node = copied
        else:
            node[entry.path[-1]] = value
            origins[entry.key] = name
    return merged, origins


# Longest environment value an error message quotes (tokens are longer).
_QUOTED_ENV_CHARS = 16
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _from_env(text: str, hint: Any, entry: EnvKey) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return None if text == "" else _from_env(text, inner, entry)
    if origin is tuple:
        return [_from_env(p.strip(), args[0], entry) for p in text.split(",") if p.strip()]
    try:
        if hint is bool:
            lowered = text.strip().lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
            raise ValueError
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[hint]
        # Long values are not quoted: a token set in the wrong variable would be printed.
        shown = repr(text) if len(text) <= _QUOTED_ENV_CHARS else f"{len(text)} characters"
        raise ConfigError(
            f"{entry.variable}: expected {kind}, got {shown} (sets {entry.key})"
        ) from None
    return text


def with_origin(exc: ConfigError, origins: Mapping[str, str]) -> ConfigError:
    """``exc`` naming the variable that set the key it starts with, when one did."""
    message = str(exc)
    for key, variable in origins.items():
        if message.startswith(f"{key}:") or message.startswith(f"{key}["):
            return ConfigError(f"{message} (set by {variable})")
    return exc
