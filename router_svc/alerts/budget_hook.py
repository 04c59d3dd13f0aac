"""The bridge from budgets to alerts: each settle's standing, as :class:`BudgetUsage`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from router_svc.budgets.rules import BudgetRule

from .alert import BudgetUsage
from .alerter import Alerter

__all__ = ["BudgetAlerts"]


class BudgetAlerts:
    """A :class:`router_svc.budgets.BudgetObserver` that hands every settled standing to
    :meth:`Alerter.budget_usage` (which fires each threshold once per period).

    A calendar budget's period is its day, week or month (UTC). A rolling window has no fixed
    period, so alerts count it in fixed windows of its length since the epoch: a threshold
    fires at most once per window length, however the window slides.
    """

    def __init__(self, alerter: Alerter, wall_clock: Callable[[], float] = time.time) -> None:
        self._alerter = alerter
        self._wall = wall_clock

    def usage(self, rule: BudgetRule, period_start: float, spent_usd: float) -> None:
        """``rule`` has ``spent_usd`` settled in its current period (``period_start``: epoch
        seconds, as the budgets report it). Never blocks: the alerter queues."""
        if self._alerter.budget_quiet(spent_usd, rule.soft_usd, rule.hard_usd):
            return  # nothing to fire: most settles
        window = rule.window
        if window.rolling:
            start = float(math.floor(self._wall() / window.seconds) * window.seconds)
            end = float(start + window.seconds)
        else:
            start, end = window.bounds(period_start)
        self._alerter.budget_usage(
            BudgetUsage(
                budget_id=rule.id,
                scope=rule.scope,
                subject=rule.subject,
                period_start=datetime.fromtimestamp(start, UTC),
                spent_usd=spent_usd,
                soft_usd=rule.soft_usd,
                hard_usd=rule.hard_usd,
                period_end=datetime.fromtimestamp(end, UTC),
            )
        )
