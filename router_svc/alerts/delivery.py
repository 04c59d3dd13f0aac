"""POSTing an alert to the webhooks: signed, retried with exponential backoff, bounded.

Retryable: connection errors and timeouts, 5xx and 429 (a ``Retry-After`` in seconds is
honoured, capped at ``max_backoff_s``); any other answer below 200 or from 300 up (4xx, a
redirect, which is never followed) ends the delivery to that webhook at once. The body is
the same bytes on every try; each try is signed with its own timestamp (:mod:`.signing`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from .config import AlertsConfig, Webhook
from .signing import SIGNATURE_HEADER, signature_header

__all__ = [
    "DELIVERED",
    "FAILED",
    "NO_WEBHOOK",
    "PARTIAL",
    "PENDING",
    "Delivery",
    "Outcome",
]

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
# Some webhooks took it, some did not.
PARTIAL = "partial"
NO_WEBHOOK = "no_webhook"
_USER_AGENT = "llmrouter-alerts/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one alert's deliveries ended: status, tries over all webhooks, the last failure."""

    status: str
    attempts: int
    error: str = ""


class Delivery:
    """Sends alert bodies to every webhook over one pooled client (made by :meth:`open`)."""

    def __init__(
        self,
        webhooks: Sequence[Webhook],
        config: AlertsConfig,
        *,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.webhooks = tuple(webhooks)
        self._config = config
        self._wall = wall_clock
        self._sleep = sleep
        self._rand = rand
        self._client: httpx.AsyncClient | None = None

    def open(self) -> None:
        """Create the process's one client for webhooks (no redirects, bounded pool)."""
        if self._client is None and self.webhooks:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._config.timeout_s),
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=4),
                follow_redirects=False,
                trust_env=False,
            )

    async def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, body: bytes, alert_id: str) -> Outcome:
        """Deliver ``body`` to every webhook at once; never raises (but for cancellation)."""
        if not self.webhooks:
            return Outcome(NO_WEBHOOK, 0)
        self.open()
        results = await asyncio.gather(*(self._one(hook, body, alert_id) for hook in self.webhooks))
        attempts = sum(tries for _, tries, _ in results)
        errors = [error for ok, _, error in results if not ok]
        if not errors:
            return Outcome(DELIVERED, attempts)
        status = FAILED if len(errors) == len(results) else PARTIAL
        return Outcome(status, attempts, errors[-1])

    async def _one(self, hook: Webhook, body: bytes, alert_id: str) -> tuple[bool, int, str]:
        """(delivered, tries, last failure) for one webhook."""
        assert self._client is not None
        error = ""
        limit = self._config.max_attempts
        for attempt in range(1, limit + 1):
            stamp = int(self._wall())
            headers = {
                "content-type": "application/json",
                "user-agent": _USER_AGENT,
                SIGNATURE_HEADER: signature_header(hook.secret, stamp, body),
                "X-LLMRouter-Alert-Id": alert_id,
            }
            wait: float | None = None
            try:
                response = await self._client.post(hook.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                error = f"{hook.name}: {type(exc).__name__}"
            else:
                if 200 <= response.status_code < 300:
                    return True, attempt, ""
                error = f"{hook.name}: HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    log.warning("alert %s not delivered: %s (not retried)", alert_id, error)
                    return False, attempt, error
                wait = _retry_after(response)
            if attempt == limit:
                break
            await self._sleep(self._backoff(attempt, wait))
        log.warning("alert %s not delivered after %d tries: %s", alert_id, limit, error)
        return False, limit, error

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try ``attempt + 1``: exponential with jitter (50-100 %), or the
        server's Retry-After, both capped."""
        cap = self._config.max_backoff_s
        if retry_after is not None:
            return min(retry_after, cap)
        base = min(self._config.initial_backoff_s * 2.0 ** (attempt - 1), cap)
        return base * (0.5 + self._rand() / 2)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
