"""Alerts: budget thresholds, a key's error rate and latency, fired once per threshold and
period across replicas, kept in the admin store and POSTed to signed webhooks (README,
"Alerts")."""

from .alert import (
    BUDGET_SOFT_LIMIT,
    BUDGET_THRESHOLD,
    ERROR_RATE,
    KINDS,
    LATENCY,
    Alert,
    BudgetUsage,
    payload,
)
from .alerter import Alerter
from .config import AlertsConfig, Webhook, WebhookConfig
from .delivery import Delivery, Outcome
from .signing import SIGNATURE_HEADER, sign, signature_header, verify
from .window import KeyWindows, WindowStats

__all__ = [
    "BUDGET_SOFT_LIMIT",
    "BUDGET_THRESHOLD",
    "ERROR_RATE",
    "KINDS",
    "LATENCY",
    "SIGNATURE_HEADER",
    "Alert",
    "Alerter",
    "AlertsConfig",
    "BudgetUsage",
    "Delivery",
    "KeyWindows",
    "Outcome",
    "Webhook",
    "WebhookConfig",
    "WindowStats",
    "payload",
    "sign",
    "signature_header",
    "verify",
]
