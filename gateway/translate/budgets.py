"""``GET /v1/admin/budgets``: the router's ``ListBudgetsResponse`` as JSON."""

from __future__ import annotations

from typing import Any

from gateway.translate._values import time_of
from llmrouter.v1 import router_admin_service_pb2 as pb

__all__ = ["budgets_json", "list_budgets_request"]


def list_budgets_request() -> pb.ListBudgetsRequest:
    """The (empty) request."""
    return pb.ListBudgetsRequest()


def budgets_json(response: pb.ListBudgetsResponse) -> list[dict[str, Any]]:
    """Each rule with its period (RFC 3339 UTC times) and USD amounts; ``soft_usd`` null when
    the rule has no soft limit."""
    return [
        {
            "id": b.id,
            "scope": b.scope,
            "subject": b.subject,
            "period": b.period,
            "period_start": time_of(b, "period_start_time"),
            "period_end": time_of(b, "period_end_time"),
            "spent_usd": b.spent_usd,
            "reserved_usd": b.reserved_usd,
            "remaining_usd": b.remaining_usd,
            "soft_usd": b.soft_usd or None,
            "hard_usd": b.hard_usd,
            "local": b.local,
        }
        for b in response.budgets
    ]
