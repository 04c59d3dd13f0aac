"""Protobuf building for ``llmrouter.v1.RouterAdminService``: model health, categories,
providers, audit events and alerts."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from llmrouter.v1 import router_admin_service_pb2 as pb

from ..admin_store import AuditEvent, StoredAlert
from ..breaker import BreakerState
from ..config import CategoryConfig
from ..pbtime import duration, timestamp
from ..providers import Provider
from ..registry import ModelEntry

__all__ = [
    "alert_to_proto",
    "audit_event_to_proto",
    "category_fields",
    "category_to_proto",
    "model_health",
    "provider_settings",
    "value_source",
]

_STATES = {
    BreakerState.CLOSED: pb.BREAKER_STATE_CLOSED,
    BreakerState.OPEN: pb.BREAKER_STATE_OPEN,
    BreakerState.HALF_OPEN: pb.BREAKER_STATE_HALF_OPEN,
}
_SOURCES = {"config": pb.VALUE_SOURCE_CONFIG, "runtime": pb.VALUE_SOURCE_RUNTIME}


def value_source(source: str) -> pb.ValueSource:
    """``config`` or ``runtime`` (see :mod:`router_svc.admin`) as the enum."""
    return _SOURCES.get(source, pb.VALUE_SOURCE_UNSPECIFIED)


def model_health(entry: ModelEntry, enabled_source: str = "") -> pb.ModelHealth:
    """A model's live health as a proto message: its first deployment's, with each deployment's
    own in ``deployments`` when it has several (README, "Deployments")."""
    message = _health(entry, enabled_source, entry.enabled)
    for deployment in entry.deployments:
        message.deployments.append(_health(deployment, enabled_source, entry.enabled))
    return message


def _health(entry: ModelEntry, enabled_source: str, enabled: bool) -> pb.ModelHealth:
    """One deployment's breaker and statistics, with its model's switch ``enabled``."""
    health = entry.stats
    state = entry.breaker.state
    message = pb.ModelHealth(
        model=entry.name,
        provider=entry.provider.name,
        enabled=enabled,
        breaker_state=_STATES[state],
        consecutive_failures=entry.breaker.consecutive_failures,
        last_error_type=health.last_error_type,
        success_count=health.successes,
        failure_count=health.failures,
        local=entry.provider.local,
        enabled_source=value_source(enabled_source),
        deployment=entry.deployment,
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


def category_to_proto(c: CategoryConfig, source: str = "") -> pb.Category:
    """A category as a proto message."""
    return pb.Category(
        name=c.name,
        chain=list(c.chain),
        keywords=list(c.keywords),
        source=value_source(source),
        cache=c.cache,
        min_quality=c.min_quality,
    )


def category_fields(c: pb.Category) -> dict[str, Any]:
    """A category message as the raw fields ``Admin`` validates (the TOML table's shape)."""
    return {
        "name": c.name,
        "chain": list(c.chain),
        "keywords": list(c.keywords),
        "min_quality": c.min_quality if c.HasField("min_quality") else None,
    }


def provider_settings(provider: Provider, base_url_source: str) -> pb.ProviderSettings:
    """A provider's applied settings."""
    simulated = provider.kind == "simulated"
    return pb.ProviderSettings(
        name=provider.name,
        kind=provider.kind,
        base_url="" if simulated else provider.config.base_url,
        base_url_source=value_source(base_url_source),
        local=provider.local,
    )


def audit_event_to_proto(event: AuditEvent) -> pb.AuditEvent:
    """One audit event; ``before``/``after`` become Structs (JSON objects by key)."""
    message = pb.AuditEvent(
        id=event.id,
        event_time=timestamp(event.event_time.timestamp()),
        actor=event.actor,
        api_key_id=event.api_key_id,
        action=event.action,
        target=event.target,
        version=event.version,
    )
    message.before.CopyFrom(_struct(event.before))
    message.after.CopyFrom(_struct(event.after))
    return message


_DELIVERY = {
    "pending": pb.ALERT_DELIVERY_STATUS_PENDING,
    "delivered": pb.ALERT_DELIVERY_STATUS_DELIVERED,
    "failed": pb.ALERT_DELIVERY_STATUS_FAILED,
    "partial": pb.ALERT_DELIVERY_STATUS_PARTIAL,
    "no_webhook": pb.ALERT_DELIVERY_STATUS_NO_WEBHOOK,
}


def alert_to_proto(alert: StoredAlert) -> pb.Alert:
    """One stored alert; its payload becomes a Struct."""
    payload = alert.payload if isinstance(alert.payload, dict) else {}
    message = pb.Alert(
        id=alert.id,
        alert_id=alert.alert_id,
        create_time=timestamp(alert.create_time.timestamp()),
        kind=alert.kind,
        scope=alert.scope,
        subject=alert.subject,
        threshold=alert.threshold,
        value=alert.value,
        message=str(payload.get("message", "")),
        delivery_status=_DELIVERY.get(alert.delivery_status, pb.ALERT_DELIVERY_STATUS_UNSPECIFIED),
        delivery_attempts=alert.delivery_attempts,
        delivery_error=alert.delivery_error,
    )
    message.payload.CopyFrom(_struct(payload))
    if alert.delivered_time is not None:
        message.delivered_time.CopyFrom(timestamp(alert.delivered_time.timestamp()))
    return message


def _struct(value: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value if isinstance(value, dict) else {"value": value})
    return struct
