"""Budgets beside usage reports: which budget rules a report shows, and on which rows.

The gateway reads every rule from the router (``RouterAdminService.ListBudgets``, over its
admin channel) and shows a caller only the rules that apply to it: an admin key sees every
rule, or, when its report names keys (``api_key_id``) or teams (``team_id``), the rules of
those; any other key sees the rules whose subject is its own key id or its own team. A row of a
report grouped by ``api_key`` and/or ``team`` carries the rules of the key and the team it
names (``budgets``), each as ``GET /v1/admin/budgets`` lists it (JSON of
:func:`gateway.translate.budgets.budgets_json`): period, ``spent_usd``, ``reserved_usd``,
``remaining_usd``, ``hard_usd``, ``soft_usd``.

A budget's ``spent_usd`` is over the rule's own period (``period_start`` to ``period_end``),
which need not be the report's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from gateway.context import RequestContext
from gateway.usage_query import CostQuery

__all__ = ["BUDGET_DIMENSIONS", "attach", "visible", "wants_budgets"]

# group_by values whose rows carry budgets, and the row field each rule scope matches.
BUDGET_DIMENSIONS: Final = {"api_key": ("key", "api_key_id"), "team": ("team", "team_id")}


def wants_budgets(query: CostQuery) -> bool:
    """Whether a ``/v1/costs`` report is grouped by key or team (then it shows budgets)."""
    return any(d in BUDGET_DIMENSIONS for d in query.group_by)


def visible(
    budgets: Sequence[dict[str, Any]], query: CostQuery, ctx: RequestContext
) -> list[dict[str, Any]]:
    """The rules of ``budgets`` (budgets_json entries) that ``ctx``'s caller may see and
    that apply to ``query``'s keys and teams, in the router's order."""
    if ctx.admin:
        keys, teams = set(query.api_key_ids), set(query.team_ids)
        if not keys and not teams:
            return list(budgets)
    else:
        keys = {ctx.api_key_id or ""}
        teams = {ctx.team_id} if ctx.team_id else set()
    return [
        b
        for b in budgets
        if (b["scope"] == "key" and b["subject"] in keys)
        or (b["scope"] == "team" and b["subject"] in teams)
    ]


def attach(
    groups: list[dict[str, Any]], budgets: Sequence[dict[str, Any]], query: CostQuery
) -> None:
    """Give each row of ``groups`` (grouped by ``query.group_by``) the rules of ``budgets``
    whose subject is the row's key or team, as ``budgets`` (an empty list when none)."""
    matched = [BUDGET_DIMENSIONS[d] for d in query.group_by if d in BUDGET_DIMENSIONS]
    if not matched:
        return
    for row in groups:
        subjects = {(scope, row[field]) for scope, field in matched if row[field]}
        row["budgets"] = [b for b in budgets if (b["scope"], b["subject"]) in subjects]
