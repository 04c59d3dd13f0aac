"""Section ``[router.alerts]``: budget, error-rate and latency alerts and their webhooks
(README, "Alerts")."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from llmrouter.config import ConfigError

__all__ = ["AlertsConfig", "Webhook", "WebhookConfig"]


@dataclass(frozen=True)
class WebhookConfig:
    """One receiver: alerts are POSTed to ``url`` and signed with the secret in ``secret_env``."""

    # http:// or https:// URL; its path and query never reach logs or the admin store
    # (incoming-webhook URLs often carry a token there).
    url: str = ""
    # Environment variable holding the HMAC-SHA256 signing secret (required).
    secret_env: str = ""


@dataclass(frozen=True, slots=True)
class Webhook:
    """A receiver ready to use: its URL, its secret, and a name fit for logs (scheme and host)."""

    url: str
    secret: bytes
    name: str


@dataclass(frozen=True)
class AlertsConfig:
    """When alerts fire and where they go. Every alert fired is kept in the admin store (and
    shown on the dashboard) whether or not a webhook is configured."""

    # Off: nothing is evaluated, stored or sent.
    enabled: bool = True
    # Receivers: [{url = "https://...", secret_env = "ALERT_WEBHOOK_SECRET"}] (file only).
    webhooks: tuple[WebhookConfig, ...] = ()
    # Percentages of a budget's hard limit that alert once each per budget period.
    budget_thresholds: tuple[float, ...] = (50.0, 80.0, 100.0)
    # A key's error rate (0-1) over window_s that alerts; 0 turns error-rate alerts off.
    error_rate: float = 0.5
    # A key's p95 request latency in seconds over window_s that alerts; 0: off.
    latency_p95_s: float = 0.0
    # Seconds of requests each key's error rate and latency are computed over.
    window_s: float = 300.0
    # Fewest requests in the window before a key's error rate or latency may alert.
    min_requests: int = 20
    # Seconds an error-rate or latency alert stays quiet for the same key and threshold.
    cooldown_s: float = 3600.0
    # Alerts waiting for delivery; past it new alerts are dropped (logged and counted in
    # llmrouter_alerts_dropped_total).
    queue_size: int = 1000
    # Tries per webhook (connection errors, 5xx and 429 are tried again).
    max_attempts: int = 5
    # Seconds before the first retry; doubled each time up to max_backoff_s (a 429's
    # Retry-After is honoured within that cap).
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    # Seconds one POST may take.
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for i, hook in enumerate(self.webhooks):
            parts = urlsplit(hook.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"webhooks[{i}].url: expected an http:// or https:// URL")
            if not hook.secret_env:
                raise ConfigError(
                    f"webhooks[{i}].secret_env: name the environment variable holding "
                    "the signing secret"
                )
        for i, pct in enumerate(self.budget_thresholds):
            if not 0 < pct <= 1000:
                raise ConfigError(
                    f"budget_thresholds[{i}]: expected a percentage above 0, got {pct}"
                )
        if not 0 <= self.error_rate <= 1:
            raise ConfigError(f"error_rate: expected 0 to 1, got {self.error_rate}")
        for name in ("window_s", "cooldown_s", "initial_backoff_s", "max_backoff_s", "timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: expected a positive number, got {value}")
        if self.latency_p95_s < 0:
            raise ConfigError(f"latency_p95_s: must not be negative, got {self.latency_p95_s}")
        for name in ("min_requests", "queue_size", "max_attempts"):
            if (count := getattr(self, name)) < 1:
                raise ConfigError(f"{name}: expected at least 1, got {count}")

    def receivers(self, environ: Mapping[str, str] | None = None) -> tuple[Webhook, ...]:
        """The webhooks with their secrets read from the environment.

        Raises :class:`ConfigError` naming ``alerts.webhooks[i].secret_env`` when its
        variable is unset or empty.
        """
        env = os.environ if environ is None else environ
        found: list[Webhook] = []
        for i, hook in enumerate(self.webhooks):
            secret = env.get(hook.secret_env, "")
            if not secret:
                raise ConfigError(
                    f"router.alerts.webhooks[{i}].secret_env: environment variable "
                    f"{hook.secret_env} is not set"
                )
            parts = urlsplit(hook.url)
            port = f":{parts.port}" if parts.port else ""
            name = f"{parts.scheme}://{parts.hostname}{port}"  # no user, path or query
            found.append(Webhook(hook.url, secret.encode(), name))
        return tuple(found)
