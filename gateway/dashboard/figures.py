"""The dashboard's figures from cost-report rows: sums per model and per time bucket, complete
series, and which categories can still be served.

Rows are the JSON of :func:`gateway.translate.costs_json`. Counts, tokens and money add up
across groups; the average latency is re-weighted by requests; a percentile does not add up,
so the summed rows carry none (the window's p95 is in its totals).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Final

from gateway.translate._values import iso

__all__ = ["ADDITIVE", "availability", "by_key", "series", "total"]

# Figures of a cost summary that add up across groups.
ADDITIVE: Final = (
    "requests",
    "successes",
    "failures",
    "cancellations",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "fallback_count",
    "local_requests",
    "remote_requests",
    "reference_cost_usd",
    "savings_usd",
    "unpriced_requests",
    "estimated_requests",
    "cache_hits",
    "cache_saved_usd",
)


def total(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The rows added up, with average latency, success rate and fallback rate."""
    sums: dict[str, Any] = dict.fromkeys(ADDITIVE, 0)
    latency = 0.0
    for row in rows:
        for name in ADDITIVE:
            sums[name] += row[name]
        latency += row["average_latency_ms"] * row["requests"]
    requests = sums["requests"]
    sums["average_latency_ms"] = latency / requests if requests else 0.0
    sums["success_rate"] = sums["successes"] / requests if requests else 0.0
    sums["fallback_rate"] = sums["fallback_count"] / requests if requests else 0.0
    sums["priced"] = sums["unpriced_requests"] == 0
    return sums


def by_key(rows: Iterable[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The rows added up per value of ``key`` (e.g. per model, or per bucket_start)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return {value: {key: value, **total(members)} for value, members in groups.items()}


def series(
    rows: dict[str, dict[str, Any]], last: dt.datetime, step: dt.timedelta, count: int
) -> list[dict[str, Any]]:
    """``count`` buckets ending with the one starting at ``last``; missing ones as zeros."""
    out = []
    for n in range(count - 1, -1, -1):
        start = iso(last - n * step)
        assert start is not None
        out.append(rows.get(start) or {"bucket_start": start, **total(())})
    return out


def availability(
    categories: list[dict[str, Any]], models: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Each category with the chain models that can serve now: enabled, breaker not open
    (half-open admits probes). Without model health (router down) none is known to."""
    healthy = {m["model"] for m in models or () if m["enabled"] and m["breaker_state"] != "open"}
    return [
        {
            **category,
            "available_models": [name for name in category["chain"] if name in healthy],
            "available": any(name in healthy for name in category["chain"]),
        }
        for category in categories
    ]
