"""How the gateway's API routes are declared: front doors answer with and without ``/v1``.

A client whose base URL lacks ``/v1`` (``http://host:port`` instead of
``http://host:port/v1``) sends ``POST /chat/completions``; the FastAPI router llmrouter
replaces answered it, so every front door (a route clients call with an SDK: chat
completions, models, route, and any added later) is declared with :func:`front_door`, which
serves the same endpoint at ``/v1{path}`` and at ``{path}``: same authentication, limits,
errors and metric label (:func:`route_labels`). Operator routes (reports, admin controls) are
declared with :func:`operator_route` and keep their one ``/v1`` path. A ``/v1`` route declared
any other way has no alias, and ``tests/gateway/test_gateway_front_doors.py`` fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from starlette.routing import BaseRoute, Route

__all__ = [
    "V1",
    "Alias",
    "OperatorRoute",
    "alias_of",
    "front_door",
    "operator_route",
    "route_labels",
]

V1: Final = "/v1"


class Alias(Route):
    """The unprefixed twin of a front door: ``canonical`` is the ``/v1`` route's template, the
    label its requests are counted and traced under."""

    def __init__(self, path: str, endpoint: Any, *, methods: Sequence[str], canonical: str):
        super().__init__(path, endpoint, methods=list(methods))
        self.canonical = canonical


class OperatorRoute(Route):
    """A ``/v1`` route for operators and reports (``/v1/admin/...``, ``/v1/costs``): no alias."""


def alias_of(path: str) -> str:
    """``/v1/chat/completions`` -> ``/chat/completions``.

    Raises ValueError for a path not under ``/v1/``."""
    if not path.startswith(V1 + "/"):
        raise ValueError(f"a front door's path starts with {V1}/, got {path!r}")
    return path.removeprefix(V1)


def front_door(path: str, endpoint: Any, *, methods: Sequence[str]) -> tuple[Route, Alias]:
    """The routes of one front door: ``path`` (under ``/v1``) and its alias without it."""
    route = Route(path, endpoint, methods=list(methods))
    alias = Alias(alias_of(path), endpoint, methods=methods, canonical=route.path_format)
    return route, alias


def operator_route(path: str, endpoint: Any, *, methods: Sequence[str]) -> OperatorRoute:
    """A ``/v1`` route served at that path only."""
    return OperatorRoute(path, endpoint, methods=list(methods))


def route_labels(routes: Iterable[BaseRoute]) -> dict[str, str]:
    """Route template -> the label its requests are counted and traced under: the template
    itself (``/v1/models/{model}``; parameters never become label values), or for an alias the
    template of its ``/v1`` route, so that one front door is one series."""
    labels: dict[str, str] = {}
    for route in routes:
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            labels[template] = route.canonical if isinstance(route, Alias) else template
    return labels
