"""Protobuf building for ``llmrouter.v1.RouterAdminService``: model health and categories."""

from __future__ import annotations

from typing import Any

from llmrouter.v1 import router_admin_service_pb2 as pb

from ..breaker import BreakerState
from ..config import CategoryConfig
from ..pbtime import duration, timestamp
from ..registry import ModelEntry

__all__ = ["category_fields", "category_to_proto", "model_health"]

_STATES = {
    BreakerState.CLOSED: pb.BREAKER_STATE_CLOSED,
    BreakerState.OPEN: pb.BREAKER_STATE_OPEN,
    BreakerState.HALF_OPEN: pb.BREAKER_STATE_HALF_OPEN,
}


def model_health(entry: ModelEntry) -> pb.ModelHealth:
    """A model's live health as a proto message."""
    health = entry.stats
    state = entry.breaker.state
    message = pb.ModelHealth(
        model=entry.name,
        provider=entry.provider.name,
        enabled=entry.enabled,
        breaker_state=_STATES[state],
        consecutive_failures=entry.breaker.consecutive_failures,
        last_error_type=health.last_error_type,
        success_count=health.successes,
        failure_count=health.failures,
        local=entry.provider.local,
    )
    if health.success_rate is not None:
        message.success_rate = health.success_rate
    if health.ewma_latency_s is not None:
        message.ewma_latency.CopyFrom(duration(health.ewma_latency_s))
    if health.last_success_time is not None:
        message.last_success_time.CopyFrom(timestamp(health.last_success_time))
    if health.last_failure_time is not None:
        message.last_failure_time.CopyFrom(timestamp(health.last_failure_time))
    if state is BreakerState.OPEN:
        message.breaker_retry_delay.CopyFrom(duration(entry.breaker.retry_after()))
    return message


def category_to_proto(c: CategoryConfig) -> pb.Category:
    """A configured category as a proto message."""
    return pb.Category(name=c.name, chain=list(c.chain), keywords=list(c.keywords))


def category_fields(c: pb.Category) -> dict[str, Any]:
    """A category message as the raw fields ``Admin`` validates (the TOML table's shape)."""
    return {"name": c.name, "chain": list(c.chain), "keywords": list(c.keywords)}
