"""RouterAdminService requests from HTTP values, and its answers as JSON.

Model health: breaker state in lower case (``closed``, ``open``, ``half_open``), latencies in
milliseconds, rates and latencies null until the router has seen an attempt. Where a setting
comes from (``enabled_source``, a category's or a base URL's ``source``): ``config`` (the
router's config file) or ``runtime`` (an admin change overriding it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from google.protobuf import json_format

from gateway.translate._values import ms, number, time_of
from llmrouter.v1 import router_admin_service_pb2 as pb

__all__ = [
    "ALERT_DELIVERY_STATUSES",
    "BREAKER_STATES",
    "VALUE_SOURCES",
    "alerts_json",
    "audit_json",
    "categories_json",
    "category_json",
    "create_category_request",
    "delete_category_request",
    "list_alerts_request",
    "list_audit_events_request",
    "list_categories_request",
    "list_model_health_request",
    "list_providers_request",
    "model_health_json",
    "models_json",
    "providers_json",
    "reset_breaker_request",
    "set_enabled_request",
    "update_category_request",
]

_STATES: Final[Mapping[int, str]] = {
    pb.BREAKER_STATE_CLOSED: "closed",
    pb.BREAKER_STATE_OPEN: "open",
    pb.BREAKER_STATE_HALF_OPEN: "half_open",
}
BREAKER_STATES: Final = (*_STATES.values(), "unspecified")
_SOURCES: Final[Mapping[int, str]] = {
    pb.VALUE_SOURCE_CONFIG: "config",
    pb.VALUE_SOURCE_RUNTIME: "runtime",
}
# "unspecified": a router from before sources were reported.
VALUE_SOURCES: Final = (*_SOURCES.values(), "unspecified")


# --- requests ----------------------------------------------------------------------------------


def list_model_health_request() -> pb.ListModelHealthRequest:
    """ListModelHealth takes no arguments."""
    return pb.ListModelHealthRequest()


def set_enabled_request(
    *, model: str = "", provider: str = "", enabled: bool
) -> pb.SetModelEnabledRequest:
    """SetModelEnabled for one model or, with ``provider``, every model of a provider."""
    if provider:
        return pb.SetModelEnabledRequest(provider=provider, enabled=enabled)
    return pb.SetModelEnabledRequest(model=model, enabled=enabled)


def list_audit_events_request(limit: int, before: int | None) -> pb.ListAuditEventsRequest:
    """ListAuditEvents: ``limit`` events older than event id ``before`` (None: the newest)."""
    return pb.ListAuditEventsRequest(
        page_size=limit, page_token=str(before) if before is not None else ""
    )


def list_alerts_request(limit: int, before: int | None) -> pb.ListAlertsRequest:
    """ListAlerts: ``limit`` alerts older than alert id ``before`` (None: the newest)."""
    return pb.ListAlertsRequest(
        page_size=limit, page_token=str(before) if before is not None else ""
    )


def list_providers_request() -> pb.ListProvidersRequest:
    """ListProviders takes no arguments."""
    return pb.ListProvidersRequest()


def reset_breaker_request(model: str) -> pb.ResetBreakerRequest:
    """ResetBreaker for ``model``."""
    return pb.ResetBreakerRequest(model=model)


def list_categories_request() -> pb.ListCategoriesRequest:
    """ListCategories takes no arguments."""
    return pb.ListCategoriesRequest()


def create_category_request(
    name: str, chain: Sequence[str], keywords: Sequence[str], min_quality: float | None = None
) -> pb.CreateCategoryRequest:
    """CreateCategory for the given category."""
    return pb.CreateCategoryRequest(category=_category(name, chain, keywords, min_quality))


def update_category_request(
    name: str, chain: Sequence[str], keywords: Sequence[str], min_quality: float | None = None
) -> pb.UpdateCategoryRequest:
    """UpdateCategory replacing the chain, keywords and quality bound of ``name``."""
    return pb.UpdateCategoryRequest(category=_category(name, chain, keywords, min_quality))


def delete_category_request(name: str) -> pb.DeleteCategoryRequest:
    """DeleteCategory for ``name``."""
    return pb.DeleteCategoryRequest(name=name)


def _category(
    name: str, chain: Sequence[str], keywords: Sequence[str], min_quality: float | None
) -> pb.Category:
    return pb.Category(
        name=name, chain=list(chain), keywords=list(keywords), min_quality=min_quality
    )


# --- responses ---------------------------------------------------------------------------------


def models_json(response: Any) -> list[dict[str, Any]]:
    """The ``models`` of a ListModelHealth or SetModelEnabled response."""
    return [model_health_json(m) for m in response.models]


def model_health_json(m: pb.ModelHealth) -> dict[str, Any]:
    """One model's live health."""
    return {
        "model": m.model,
        "provider": m.provider,
        "enabled": m.enabled,
        "enabled_source": _source(m.enabled_source),
        "local": m.local,
        "breaker_state": _STATES.get(m.breaker_state, "unspecified"),
        "breaker_retry_after_ms": ms(m.breaker_retry_delay)
        if m.HasField("breaker_retry_delay")
        else None,
        "success_rate": number(m.success_rate) if m.HasField("success_rate") else None,
        "ewma_latency_ms": ms(m.ewma_latency) if m.HasField("ewma_latency") else None,
        "success_count": m.success_count,
        "failure_count": m.failure_count,
        "consecutive_failures": m.consecutive_failures,
        "last_success_time": time_of(m, "last_success_time"),
        "last_failure_time": time_of(m, "last_failure_time"),
        "last_error_type": m.last_error_type,
        # README, "Deployments": each deployment's own health ([] without deployments).
        "deployment": m.deployment or None,
        "deployments": [model_health_json(d) for d in m.deployments],
    }


def categories_json(response: pb.ListCategoriesResponse) -> dict[str, Any]:
    """The categories in matching order, and how requests are classified."""
    return {
        "classification_mode": response.classification_mode,
        "categories": [category_json(c) for c in response.categories],
    }


def category_json(c: pb.Category) -> dict[str, Any]:
    """One category: its name, ordered chain and keywords, where it comes from, whether the
    response cache serves it, and its quality bound (null: none)."""
    return {
        "name": c.name,
        "chain": list(c.chain),
        "keywords": list(c.keywords),
        "source": _source(c.source),
        "cache": c.cache,
        "min_quality": c.min_quality if c.HasField("min_quality") else None,
    }


def providers_json(response: pb.ListProvidersResponse) -> list[dict[str, Any]]:
    """Each provider's kind and base URL (null for simulated ones), and where it comes from."""
    return [
        {
            "name": p.name,
            "kind": p.kind,
            "base_url": p.base_url or None,
            "base_url_source": _source(p.base_url_source),
            "local": p.local,
        }
        for p in response.providers
    ]


def _source(value: int) -> str:
    return _SOURCES.get(value, "unspecified")


def audit_json(response: pb.ListAuditEventsResponse) -> dict[str, Any]:
    """Admin changes, newest first; ``next_before`` is the ``before`` of the next page."""
    token = response.next_page_token
    return {
        "events": [
            {
                "id": e.id,
                "time": time_of(e, "event_time"),
                "actor": e.actor,
                "api_key_id": e.api_key_id or None,
                "action": e.action,
                "target": e.target,
                "before": json_format.MessageToDict(e.before),
                "after": json_format.MessageToDict(e.after),
                "version": e.version,
            }
            for e in response.events
        ],
        "next_before": int(token) if token.isdigit() else None,
    }


#: An alert's delivery status in JSON, by the proto's value.
ALERT_DELIVERY_STATUSES: Final = {
    pb.ALERT_DELIVERY_STATUS_PENDING: "pending",
    pb.ALERT_DELIVERY_STATUS_DELIVERED: "delivered",
    pb.ALERT_DELIVERY_STATUS_FAILED: "failed",
    pb.ALERT_DELIVERY_STATUS_PARTIAL: "partial",
    pb.ALERT_DELIVERY_STATUS_NO_WEBHOOK: "no_webhook",
}


def alerts_json(response: pb.ListAlertsResponse) -> dict[str, Any]:
    """Alerts fired, newest first; ``next_before`` is the ``before`` of the next page."""
    token = response.next_page_token
    return {
        "alerts": [
            {
                "id": a.id,
                "alert_id": a.alert_id,
                "time": time_of(a, "create_time"),
                "kind": a.kind,
                "scope": a.scope,
                "subject": a.subject,
                "threshold": a.threshold,
                "value": a.value,
                "message": a.message,
                "payload": json_format.MessageToDict(a.payload),
                "delivery": {
                    "status": ALERT_DELIVERY_STATUSES.get(a.delivery_status, "unspecified"),
                    "attempts": a.delivery_attempts,
                    "error": a.delivery_error or None,
                    "time": time_of(a, "delivered_time"),
                },
            }
            for a in response.alerts
        ],
        "next_before": int(token) if token.isdigit() else None,
    }
