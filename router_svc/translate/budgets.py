"""Budgets on the wire: the ledger query of a rule's spending (metrics_svc QueryCosts) and
``ListBudgets`` answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmrouter.v1 import metrics_service_pb2, router_admin_service_pb2

from ..budgets import BudgetRule, BudgetStanding

__all__ = ["ledger_query", "ledger_spender", "standings_to_pb"]


def ledger_query(
    rule: BudgetRule, start: float, end: float
) -> metrics_service_pb2.QueryCostsRequest:
    """QueryCosts for ``rule``'s subject (its key's or team's records) from epoch ``start``
    (inclusive) to ``end`` (exclusive); its ``totals.cost_usd`` is the spending."""
    request = metrics_service_pb2.QueryCostsRequest()
    request.start_time.FromNanoseconds(int(start * 1e9))
    request.end_time.FromNanoseconds(int(end * 1e9))
    if rule.scope == "team":
        request.filter.team_ids.append(rule.subject)
    else:
        request.filter.api_key_ids.append(rule.subject)
    return request


def ledger_spender(stub: Any, timeout_s: float = 10.0) -> Any:
    """A :data:`router_svc.budgets.LedgerSpend` over ``stub`` (a MetricsServiceStub)."""

    async def spend(rule: BudgetRule, start: float, end: float) -> float:
        response = await stub.QueryCosts(ledger_query(rule, start, end), timeout=timeout_s)
        return float(response.totals.cost_usd)

    return spend


def standings_to_pb(
    standings: Sequence[BudgetStanding],
) -> router_admin_service_pb2.ListBudgetsResponse:
    """The ``ListBudgets`` answer for ``standings``."""
    response = router_admin_service_pb2.ListBudgetsResponse()
    for s in standings:
        rule = s.rule
        item = response.budgets.add(
            id=rule.id,
            scope=rule.scope,
            subject=rule.subject,
            period=rule.period,
            spent_usd=s.spent_usd,
            reserved_usd=s.reserved_usd,
            remaining_usd=s.remaining_usd,
            hard_usd=rule.hard_usd,
            soft_usd=rule.soft_usd,
            local=s.local,
        )
        item.period_start_time.FromNanoseconds(int(s.period_start * 1e9))
        item.period_end_time.FromNanoseconds(int(s.period_end * 1e9))
    return response
