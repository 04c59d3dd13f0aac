"""Budget reconciliation against the real metrics service: the ledger is the truth. Spending a
replica never settled (it crashed after its attempts were recorded) is brought into a key's and
a team's counters from QueryCosts (filtered by api_key_ids / team_ids, from the period's start
to the cutoff), other keys, teams and days left out; running again changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from llmrouter.shared_state import StateConfig
from router_svc.budgets import BudgetRule, Budgets, ConfigRules, Reconciler
from router_svc.translate.budgets import ledger_spender

from .support import NOW, Metrics, usage_record

KEY = BudgetRule("k1-daily", "key", "k1", "day", hard_usd=5.0)
TEAM = BudgetRule("search-monthly", "team", "search", "month", hard_usd=50.0)


async def test_reconciliation_brings_the_ledgers_spending_into_the_counters(
    metrics: Metrics,
) -> None:
    # At least 20 minutes into the UTC day, so "10 minutes ago" is the same day.
    now = max(NOW, NOW.replace(hour=0, minute=20, second=0, microsecond=0))
    ago = now - timedelta(minutes=10)
    await metrics.record(
        usage_record("a:1", time=ago, api_key_id="k1", team_id="search", cost_usd=0.10),
        usage_record("b:1", time=ago, api_key_id="k1", team_id="search", cost_usd=0.15),
        usage_record("c:1", time=ago, api_key_id="k2", team_id="search", cost_usd=0.40),
        usage_record("d:1", time=ago, api_key_id="k3", team_id="ads", cost_usd=1.00),
        # Yesterday's: not in the day's budget.
        usage_record("e:1", time=ago - timedelta(days=1), api_key_id="k1", cost_usd=2.00),
        # Within the lag: left as the counters have it (not yet in every ledger for sure).
        usage_record("f:1", time=now - timedelta(seconds=5), api_key_id="k1", cost_usd=3.00),
    )
    budgets = Budgets(ConfigRules([KEY, TEAM]), StateConfig(), wall_clock=now.timestamp)
    reconciler = Reconciler(budgets, ledger_spender(metrics.stub), interval_s=60, lag_s=60)
    before = {s.rule.id: s.spent_usd for s in await budgets.standings()}
    assert before == {"k1-daily": 0, "search-monthly": 0}  # the replica never settled them

    await reconciler.run_once()
    await reconciler.run_once()  # replaces, never adds twice

    after = {s.rule.id: s.spent_usd for s in await budgets.standings()}
    assert after["k1-daily"] == pytest.approx(0.25)
    assert after["search-monthly"] == pytest.approx(0.65)
    assert reconciler.corrected == 4
    assert reconciler.failures == 0
