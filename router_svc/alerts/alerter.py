"""The alerter: decides when an alert fires, makes it fire once across replicas, records it
in the admin store and hands it to the webhooks, all off the request path.

:meth:`Alerter.budget_usage` and :meth:`Alerter.request_finished` are plain functions: they
update counters, and an alert that fires goes onto a bounded queue (full: dropped, logged and
counted in ``llmrouter_alerts_dropped_total``). A background task takes alerts from the queue
and, for each, claims it in the shared store (``set_if_absent`` on the alert's key, for the
rest of its period or the cooldown: one replica of many wins), records it, and delivers it
(at most ``_CONCURRENT`` alerts in delivery at once). An alert is delivered at most once: a
replica that dies between its claim and the POST loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter

from llmrouter.shared_state import SharedState, StateUnavailable

from ..admin_store import AdminStoreError, AlertLog
from .alert import (
    BUDGET_SOFT_LIMIT,
    BUDGET_THRESHOLD,
    ERROR_RATE,
    LATENCY,
    Alert,
    BudgetUsage,
    Identity,
    payload,
)
from .config import AlertsConfig
from .delivery import NO_WEBHOOK, PENDING, Delivery, Outcome
from .window import KeyWindows, WindowStats

__all__ = ["Alerter"]

log = logging.getLogger(__name__)

# Alerts in delivery at once (each may spend minutes retrying a dead webhook).
_CONCURRENT = 4
# How long a budget alert is remembered when its period's end is not known: the longest
# calendar period (31 days) and a day's margin.
_DEFAULT_BUDGET_TTL_S = 32 * 86400.0
# Alerts this replica remembers having queued (so repeated reports queue nothing).
_MAX_REMEMBERED = 10_000


# What _record returns for an alert the admin store has from before (fired before a restart).
_FIRED_BEFORE = -1


class Alerter:
    """Budget, error-rate and latency alerts (README, "Alerts").

    ``log``: the admin store's alert log (None: alerts are only delivered). ``delivery``:
    where bodies go (built from ``config`` when None). Clocks and sleep are injected for
    tests; ``registry`` takes the Prometheus counters.
    """

    def __init__(
        self,
        config: AlertsConfig,
        state: SharedState,
        log: AlertLog | None,
        delivery: Delivery,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._state = state
        self._log = log
        self._delivery = delivery
        self._clock = clock
        self._wall = wall_clock
        self._windows = KeyWindows(config.window_s, config.latency_p95_s)
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(config.queue_size)
        # Alert identity -> monotonic expiry: alerts this replica queued.
        self._queued: OrderedDict[Identity, float] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(_CONCURRENT)
        registry = registry if registry is not None else CollectorRegistry()
        self._fired = Counter(
            "llmrouter_alerts_fired",
            "Alerts this replica fired (claimed in the shared store), by kind",
            ["kind"],
            registry=registry,
        )
        self._dropped = Counter(
            "llmrouter_alerts_dropped",
            "Alerts dropped because the delivery queue (router.alerts.queue_size) was full",
            ["kind"],
            registry=registry,
        )
        self._deliveries = Counter(
            "llmrouter_alert_deliveries",
            "Alerts' webhook deliveries by outcome (delivered, failed, partial, no_webhook)",
            ["status"],
            registry=registry,
        )

    # -- entry points (never block, never raise) ------------------------------------------

    def budget_quiet(self, spent_usd: float, soft_usd: float, hard_usd: float) -> bool:
        """Whether :meth:`budget_usage` of this spend could fire nothing: alerts are off, or
        the spend is below the soft limit and below the lowest threshold (checked on every
        settle, so the usage need not be built for most of them)."""
        config = self._config
        if not config.enabled:
            return True
        if soft_usd > 0 and spent_usd >= soft_usd:
            return False
        lowest = min(config.budget_thresholds, default=math.inf)
        return hard_usd <= 0 or 100.0 * spent_usd / hard_usd < lowest

    def budget_usage(self, usage: BudgetUsage) -> None:
        """A budget's spend after a settle: fire each configured percentage of the hard limit
        reached, and the soft limit when reached, once per budget period."""
        if not self._config.enabled:
            return
        ttl = _DEFAULT_BUDGET_TTL_S
        if usage.period_end is not None:
            now = datetime.fromtimestamp(self._wall(), UTC)
            ttl = max((_aware(usage.period_end) - now).total_seconds(), 0.0) + 86400.0
        who = f"{usage.scope} {usage.subject}"
        budget = {
            "budget": {
                "id": usage.budget_id,
                "period_start": _iso(usage.period_start),
                "spent_usd": round(usage.spent_usd, 6),
                "soft_usd": usage.soft_usd,
                "hard_usd": usage.hard_usd,
            }
        }
        if usage.hard_usd > 0:
            percent = 100.0 * usage.spent_usd / usage.hard_usd
            for threshold in self._config.budget_thresholds:
                if percent >= threshold:
                    self._fire(
                        Alert(
                            BUDGET_THRESHOLD,
                            usage.scope,
                            usage.subject,
                            threshold,
                            percent,
                            _aware(usage.period_start),
                            ttl,
                            f"Budget {usage.budget_id} of {who} reached {threshold:g} % of its "
                            f"hard limit: {usage.spent_usd:.2f} of {usage.hard_usd:.2f} USD "
                            "this period.",
                            budget,
                            usage.budget_id,
                        )
                    )
        if usage.soft_usd > 0 and usage.spent_usd >= usage.soft_usd:
            self._fire(
                Alert(
                    BUDGET_SOFT_LIMIT,
                    usage.scope,
                    usage.subject,
                    usage.soft_usd,
                    usage.spent_usd,
                    _aware(usage.period_start),
                    ttl,
                    f"Budget {usage.budget_id} of {who} reached its soft limit: "
                    f"{usage.spent_usd:.2f} of {usage.soft_usd:.2f} USD this period.",
                    budget,
                    usage.budget_id,
                )
            )

    def request_finished(self, api_key_id: str, ok: bool, latency_s: float) -> None:
        """A request of ``api_key_id`` ("" without a key) ended, failed or not, after
        ``latency_s`` seconds: fire the key's error-rate or latency alert when its window
        crosses the configured threshold (after ``min_requests`` requests)."""
        config = self._config
        if not config.enabled or not (config.error_rate > 0 or config.latency_p95_s > 0):
            return
        stats = self._windows.add(api_key_id, ok, latency_s, self._clock())
        if stats.requests < config.min_requests:
            return
        if (
            config.error_rate > 0
            and stats.error_rate >= config.error_rate
            and self._due((ERROR_RATE, "key", api_key_id, "", config.error_rate, ""))
        ):
            self._fire(
                Alert(
                    ERROR_RATE,
                    "key",
                    api_key_id,
                    config.error_rate,
                    stats.error_rate,
                    None,
                    config.cooldown_s,
                    f"{stats.errors} of the last {stats.requests} requests of key "
                    f"{api_key_id or '(none)'} failed ({stats.error_rate:.0%}, alerting at "
                    f"{config.error_rate:.0%}).",
                    self._window(stats),
                )
            )
        if (
            config.latency_p95_s > 0
            and stats.p95_exceeded
            and self._due((LATENCY, "key", api_key_id, "", config.latency_p95_s, ""))
        ):
            p95 = self._windows.p95(api_key_id)  # sorts: only for an alert about to fire
            self._fire(
                Alert(
                    LATENCY,
                    "key",
                    api_key_id,
                    config.latency_p95_s,
                    p95,
                    None,
                    config.cooldown_s,
                    f"The p95 latency of key {api_key_id or '(none)'} over its last "
                    f"{stats.requests} requests is {p95:.2f} s (alerting above "
                    f"{config.latency_p95_s:g} s).",
                    {**self._window(stats), "p95_latency_s": round(p95, 6)},
                )
            )

    def _window(self, stats: WindowStats) -> dict[str, object]:
        return {
            "window": {
                "seconds": self._config.window_s,
                "requests": stats.requests,
                "errors": stats.errors,
                "error_rate": round(stats.error_rate, 6),
            }
        }

    def _due(self, identity: Identity) -> bool:
        """Whether the alert ``identity`` may be queued now (not queued within its TTL)."""
        return self._queued.get(identity, 0.0) <= self._clock()

    def _fire(self, alert: Alert) -> None:
        """Queue ``alert`` unless this replica queued it within its TTL."""
        key, now = alert.identity, self._clock()
        if self._queued.get(key, 0.0) > now:
            return
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self._dropped.labels(alert.kind).inc()
            log.warning(
                "alert %s for %s %s dropped: %d alerts already wait for delivery "
                "(router.alerts.queue_size)",
                alert.kind,
                alert.scope,
                alert.subject,
                self._config.queue_size,
            )
            return
        self._queued[key] = now + alert.dedupe_ttl_s
        self._queued.move_to_end(key)
        while len(self._queued) > _MAX_REMEMBERED:
            self._queued.popitem(last=False)

    # -- background -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery task on the running loop."""
        if self._task is None:
            self._delivery.open()
            self._task = asyncio.get_running_loop().create_task(
                self._work(), name="llmrouter-alerts"
            )

    async def stop(self, grace_s: float = 5.0) -> None:
        """Give queued and running deliveries ``grace_s`` seconds, then cancel them and close
        the webhook client."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in tuple(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._delivery.close()

    async def _work(self) -> None:
        while True:
            alert = await self._queue.get()
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._handle(alert))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()
        self._queue.task_done()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("alert delivery failed: %s", exc, exc_info=exc)

    async def _handle(self, alert: Alert) -> None:
        """Claim, record and deliver one alert."""
        try:
            won = await self._state.set_if_absent(alert.dedupe_key, b"1", alert.dedupe_ttl_s)
        except StateUnavailable as exc:
            # Better a duplicate from two replicas than no alert at all.
            log.warning("alert %s: shared store unavailable (%s); firing anyway", alert.kind, exc)
            won = True
        if not won:
            return
        # A budget alert's id is fixed by what it is about (kind, subject, budget, threshold,
        # period): receivers can deduplicate by it, and the admin store, which keeps alerts
        # across restarts, refuses it a second time. A key's error-rate and latency alerts
        # recur after their cooldown: each gets its own id.
        if alert.period_start is not None:
            alert_id = "alert_" + alert.dedupe_key.rpartition(":")[2]
        else:
            alert_id = "alert_" + uuid.uuid4().hex
        created = datetime.fromtimestamp(self._wall(), UTC)
        body = payload(alert, alert_id, created)
        encoded = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        row_id = await self._record(alert, alert_id, created, body)
        if row_id == _FIRED_BEFORE:
            return
        self._fired.labels(alert.kind).inc()
        outcome = await self._delivery.send(encoded, alert_id)
        self._deliveries.labels(outcome.status).inc()
        if row_id is not None and outcome.status != NO_WEBHOOK:
            await self._recorded(row_id, outcome)

    async def _record(
        self, alert: Alert, alert_id: str, created: datetime, body: dict[str, object]
    ) -> int | None:
        if self._log is None:
            return None
        try:
            row_id = await self._log.add(
                alert_id=alert_id,
                create_time=created,
                kind=alert.kind,
                scope=alert.scope,
                subject=alert.subject,
                threshold=alert.threshold,
                value=alert.value,
                payload=body,
                delivery_status=PENDING if self._delivery.webhooks else NO_WEBHOOK,
            )
            return _FIRED_BEFORE if row_id is None else row_id
        except AdminStoreError as exc:
            log.warning("alert %s not recorded in the admin store: %s", alert_id, exc)
            return None

    async def _recorded(self, row_id: int, outcome: Outcome) -> None:
        assert self._log is not None
        delivered = datetime.fromtimestamp(self._wall(), UTC) if outcome.error == "" else None
        try:
            await self._log.delivered(
                row_id,
                status=outcome.status,
                attempts=outcome.attempts,
                error=outcome.error,
                delivered_time=delivered,
            )
        except AdminStoreError as exc:
            log.warning("alert delivery not recorded in the admin store: %s", exc)

    async def drain(self) -> None:
        """Wait until every alert queued so far has been handled (claimed, recorded, sent)."""
        await self._queue.join()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")
