"""Budget rules of virtual keys and teams (router_svc.api_keys), beside the config's.

A virtual key's or team's budgets are data in the admin store (``budgets`` of ApiKey and Team:
period, soft_usd, hard_usd). Each becomes a :class:`BudgetRule` here, enforced, listed,
reconciled and alerted on exactly as a ``[[router.budgets]]`` rule is. The index is rebuilt
when the admin store's version moves (a key created, changed or revoked on any replica reaches
this one through router_svc.admin_sync), and otherwise costs one integer comparison per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from router_svc.admin_store import ApiKeyRecord, TeamRecord

from .rules import BudgetRule, ConfigRules

__all__ = ["NO_HARD_LIMIT_USD", "RuntimeRules", "rule_id"]

#: The hard limit of a budget that sets only ``soft_usd`` (it alerts and never refuses): a
#: billion dollars, out of reach of any real period's spend.
NO_HARD_LIMIT_USD = 1e9


class KeysView(Protocol):
    """What the rules read from :class:`router_svc.admin.Admin`."""

    @property
    def version(self) -> int: ...

    api_keys: tuple[ApiKeyRecord, ...]
    teams: tuple[TeamRecord, ...]


def rule_id(subject: str, budget: Mapping[str, Any]) -> str:
    """The id of a virtual key's or team's budget: ``<id>.<period>`` (``vk_ab.day``), with the
    window for a rolling one (``vk_ab.rolling-3600``)."""
    period = str(budget["period"])
    if period == "rolling":
        return f"{subject}.rolling-{int(budget['rolling_seconds'])}"
    return f"{subject}.{period}"


def _rules(scope: str, subject: str, budgets: Sequence[Mapping[str, Any]]) -> list[BudgetRule]:
    rules = []
    for budget in budgets:
        period = str(budget["period"])
        if period == "rolling":
            period = f"rolling:{int(budget['rolling_seconds'])}"
        hard = float(budget.get("hard_usd") or 0.0)
        rules.append(
            BudgetRule(
                rule_id(subject, budget),
                scope,
                subject,
                period,
                hard_usd=hard if hard > 0 else NO_HARD_LIMIT_USD,
                soft_usd=float(budget.get("soft_usd") or 0.0),
            )
        )
    return rules


class RuntimeRules:
    """A :class:`router_svc.budgets.RuleSource`: the config's rules, then those of every
    virtual key that is not revoked and of every team, as the admin store has them now."""

    def __init__(self, config: ConfigRules, keys: KeysView) -> None:
        self._config = config
        self._keys = keys
        self._version: int | None = None
        self._index = config

    def _current(self) -> ConfigRules:
        version = self._keys.version
        if version != self._version:
            rules = list(self._config.all_rules())
            for key in self._keys.api_keys:
                if key.revoke_time is None:
                    rules += _rules("key", key.id, key.budgets)
            for team in self._keys.teams:
                rules += _rules("team", team.id, team.budgets)
            self._index = ConfigRules(rules)
            self._version = version
        return self._index

    def rules_for(self, api_key_id: str, team_id: str) -> Sequence[BudgetRule]:
        """See :meth:`router_svc.budgets.RuleSource.rules_for`."""
        return self._current().rules_for(api_key_id, team_id)

    def all_rules(self) -> Sequence[BudgetRule]:
        """See :meth:`router_svc.budgets.RuleSource.all_rules`."""
        return self._current().all_rules()
