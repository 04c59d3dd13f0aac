"""Budgets in USD per API key or team (README, "Budgets"): rules, counters, enforcement and
reconciliation from the ledger."""

from .enforcer import BudgetObserver, Budgets, BudgetStanding, Hold, NoObserver, Refusal
from .periods import Period, parse_period
from .reconcile import LedgerSpend, Reconciler
from .rules import BudgetRule, ConfigRules, RuleSource

__all__ = [
    "BudgetObserver",
    "BudgetRule",
    "BudgetStanding",
    "Budgets",
    "ConfigRules",
    "Hold",
    "LedgerSpend",
    "NoObserver",
    "Period",
    "Reconciler",
    "Refusal",
    "RuleSource",
    "parse_period",
]
