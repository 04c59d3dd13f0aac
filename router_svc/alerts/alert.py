"""What an alert is: its kind, subject, threshold and period, the webhook payload it becomes,
and the key that makes it fire once (across replicas) per threshold and period.

Payloads carry ids, numbers and times only: API key *ids* (never secrets), budget ids, team
names; never prompt or answer content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BUDGET_SOFT_LIMIT",
    "BUDGET_THRESHOLD",
    "ERROR_RATE",
    "KINDS",
    "LATENCY",
    "Alert",
    "BudgetUsage",
    "Identity",
    "payload",
]

#: Spend reached a percentage of a budget's hard limit (threshold: the percentage).
BUDGET_THRESHOLD = "budget_threshold"
#: Spend reached a budget's soft limit (threshold: the soft limit in USD).
BUDGET_SOFT_LIMIT = "budget_soft_limit"
#: A key's error rate over the window reached the configured rate (threshold: 0-1).
ERROR_RATE = "error_rate"
#: A key's p95 latency over the window exceeded the configured seconds (threshold: seconds).
LATENCY = "latency"
KINDS = (BUDGET_THRESHOLD, BUDGET_SOFT_LIMIT, ERROR_RATE, LATENCY)
#: (kind, scope, subject, budget id, threshold, period start as ISO 8601 or "").
Identity = tuple[str, str, str, str, float, str]
#: Version of the payload's shape; a change that is not an added field moves it.
PAYLOAD_VERSION = 1


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """A budget's spend after a settle, as the budgets module reports it.

    ``scope``: "key" (``subject`` is an API key id) or "team" (a team name). Amounts in USD;
    ``hard_usd`` or ``soft_usd`` 0 means no such limit. ``period_start``: when the budget's
    current period began (UTC); ``period_end`` when it ends, if known (bounds how long the
    once-per-period record is kept; else 32 days, the longest calendar period and a margin).
    """

    budget_id: str
    scope: str
    subject: str
    period_start: datetime
    spent_usd: float
    soft_usd: float
    hard_usd: float
    period_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert to fire: fires at most once per (kind, scope, subject, budget, threshold,
    period)."""

    kind: str
    scope: str
    subject: str
    threshold: float
    # The value that crossed it (percent of the hard limit, USD, error rate or seconds).
    value: float
    # The budget period (budget alerts) or None (error rate and latency).
    period_start: datetime | None
    # Seconds the once-only record lasts: the rest of the period, or the cooldown.
    dedupe_ttl_s: float
    message: str
    # "budget" or "window": the numbers behind the alert (JSON data).
    details: dict[str, Any] = field(default_factory=dict)
    # Budget alerts: the budget's id (two budgets of one key alert apart).
    budget_id: str = ""

    @property
    def identity(self) -> Identity:
        """What makes two alerts the same alert: (kind, scope, subject, budget, threshold,
        period start or "")."""
        period = self.period_start.isoformat() if self.period_start else ""
        return (self.kind, self.scope, self.subject, self.budget_id, self.threshold, period)

    @property
    def dedupe_key(self) -> str:
        """The shared-store key claimed by the replica that fires it (a digest of
        :attr:`identity`: subjects are free text)."""
        parts = json.dumps(self.identity)
        return "alerts:fired:" + hashlib.sha256(parts.encode()).hexdigest()[:32]


def payload(alert: Alert, alert_id: str, created: datetime) -> dict[str, Any]:
    """The webhook body (README, "Alerts"): JSON data with sorted keys when encoded."""
    body: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "id": alert_id,
        "kind": alert.kind,
        "created": _iso(created),
        "subject": {"scope": alert.scope, "id": alert.subject},
        "threshold": alert.threshold,
        "value": round(alert.value, 6),
        "period_start": _iso(alert.period_start) if alert.period_start else None,
        "message": alert.message,
    }
    body.update(alert.details)
    return body


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
