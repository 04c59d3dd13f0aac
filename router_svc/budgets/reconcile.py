"""Reconciliation: the ledger is the truth; the counters are corrected from it periodically.

Every ``interval_s`` the job asks the ledger (metrics_svc QueryCosts, filtered by the rule's
key or team) for each rule's spending from its period's start up to a cutoff ``lag_s`` ago
(rounded down to a counting bucket), and replaces the counters' spending before that cutoff
by it; what was settled after the cutoff stays as counted, since its usage records may not be
in the ledger yet (the outbox ships them within seconds). So spending a replica never settled
(it crashed, or counted on its own while the shared store was down) is added, and a counter
that drifted above the ledger comes down. A failed query or store call skips that rule until
the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from .enforcer import Budgets
from .rules import BudgetRule

__all__ = ["LedgerSpend", "Reconciler"]

log = logging.getLogger(__name__)

# The ledger's spending of a rule's subject from epoch ``start`` to ``end`` (exclusive), USD.
LedgerSpend = Callable[[BudgetRule, float, float], Awaitable[float]]


class Reconciler:
    """Corrects ``budgets``' counters from ``ledger`` every ``interval_s`` seconds."""

    def __init__(
        self, budgets: Budgets, ledger: LedgerSpend, *, interval_s: float, lag_s: float
    ) -> None:
        self._budgets = budgets
        self._ledger = ledger
        self._interval = interval_s
        self._lag = lag_s
        self._task: asyncio.Task[None] | None = None
        # Rules corrected so far, and runs whose query or store call failed (for tests, logs).
        self.corrected = 0
        self.failures = 0

    async def run_once(self) -> None:
        """Reconcile every rule now."""
        now = self._budgets.wall_clock()
        for rule in self._budgets.rules.all_rules():
            period = rule.window
            start, _ = period.bounds(now)
            if period.rolling and self._lag >= period.seconds:
                continue  # nothing of the window is old enough to be in the ledger for sure
            step = period.step_s
            cutoff = math.floor((now - self._lag) / step) * step
            if cutoff <= start:
                continue
            try:
                spent = await self._ledger(rule, start, cutoff)
                await self._budgets.reconcile_rule(rule, spent, cutoff)
            except Exception as exc:
                self.failures += 1
                log.warning("budgets: reconciling %r failed (%s)", rule.id, _why(exc))
                continue
            self.corrected += 1

    def start(self) -> None:
        """Run :meth:`run_once` every ``interval_s`` in the background."""
        # Whether or not any rule exists now: virtual keys and teams gain budgets at runtime.
        if self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="llmrouter-budget-reconcile"
            )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.run_once()

    async def stop(self) -> None:
        """Stop the background runs."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _why(exc: Exception) -> str:
    """What failed, for the log: a gRPC call's status (with what to change when the ledger
    refused the router's credential), else the exception's type."""
    code = getattr(exc, "code", None)
    if not callable(code):
        return type(exc).__name__
    name = getattr(code(), "name", str(code()))
    if name in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return (
            f"{name}: the metrics service refused the router's credential; the token of "
            "router.metrics_token_env needs the read scope as well as record"
        )
    return str(name)
