"""Budget rules (``[[router.budgets]]``): USD limits per API key or team, per period.

A rule is a frozen value; :class:`RuleSource` is how the router finds the rules that apply to a
request, so rules kept elsewhere (runtime virtual keys) can be added beside the config's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from llmrouter.config import ConfigError

from .periods import Period, parse_period

__all__ = ["SCOPES", "BudgetRule", "ConfigRules", "RuleSource"]

# Whose spending a rule limits: one API key (caller.api_key_id) or one team (caller.team_id).
SCOPES = ("key", "team")
_ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True)
class BudgetRule:
    """One ``[[router.budgets]]`` entry: at most ``hard_usd`` spent by ``subject`` per period."""

    # Name of the rule in errors, /v1/admin/budgets and alerts (letters, digits, . _ @ -).
    id: str
    # "key" (subject is an API key id) or "team" (subject is a team id: every key of it).
    scope: str
    # The API key id or team id whose attempts count against the rule.
    subject: str
    # "day", "week" (from Monday) or "month": calendar periods in UTC; or "rolling:<seconds>"
    # (the spend of the last <seconds>, counted in 1/60ths of the window).
    period: str
    # Requests that could take spending past this many USD are refused (429 insufficient_quota).
    hard_usd: float
    # Spending past this many USD is reported to observers (alerts); 0 = none. Never refuses.
    soft_usd: float = 0.0

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ConfigError("id: expected 1-64 letters, digits or . _ @ -")
        if self.scope not in SCOPES:
            raise ConfigError(f"scope: expected one of {', '.join(SCOPES)}, got {self.scope!r}")
        if not _ID.fullmatch(self.subject):
            raise ConfigError("subject: expected an API key id or team id (1-64 characters)")
        parse_period(self.period)  # raises ConfigError naming "period"
        if not (math.isfinite(self.hard_usd) and self.hard_usd > 0):
            raise ConfigError(f"hard_usd: expected a positive number, got {self.hard_usd}")
        if not (math.isfinite(self.soft_usd) and 0 <= self.soft_usd <= self.hard_usd):
            raise ConfigError(
                f"soft_usd: expected 0 (none) up to hard_usd ({self.hard_usd}), got {self.soft_usd}"
            )

    @cached_property
    def window(self) -> Period:
        """The rule's period, parsed (once: it is asked on every attempt)."""
        return parse_period(self.period)


class RuleSource(Protocol):
    """Where the router finds budget rules (config today; runtime keys may add their own)."""

    def rules_for(self, api_key_id: str, team_id: str) -> Sequence[BudgetRule]:
        """The rules that apply to a request of key ``api_key_id`` in team ``team_id`` (either
        may be ""): its key's rules, then its team's."""
        ...

    def all_rules(self) -> Sequence[BudgetRule]:
        """Every rule, for listing and reconciliation."""
        ...


class ConfigRules:
    """The rules of ``[[router.budgets]]``, indexed by subject."""

    def __init__(self, rules: Sequence[BudgetRule]) -> None:
        """Raises ConfigError when two rules share an id."""
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ConfigError("budgets: rule ids must be unique")
        self._rules = tuple(rules)
        self._by: dict[tuple[str, str], tuple[BudgetRule, ...]] = {}
        for rule in rules:
            key = (rule.scope, rule.subject)
            self._by[key] = (*self._by.get(key, ()), rule)

    def rules_for(self, api_key_id: str, team_id: str) -> Sequence[BudgetRule]:
        """See :meth:`RuleSource.rules_for`."""
        if not self._by:
            return ()
        found: tuple[BudgetRule, ...] = ()
        if api_key_id:
            found += self._by.get(("key", api_key_id), ())
        if team_id:
            found += self._by.get(("team", team_id), ())
        return found

    def all_rules(self) -> Sequence[BudgetRule]:
        """See :meth:`RuleSource.all_rules`."""
        return self._rules
