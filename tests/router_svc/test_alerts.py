"""Alerts delivered to a real local webhook receiver: signed, once per threshold and period
(also from two alerters sharing Redis), retried after a 5xx, and kept in the admin store."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from llmrouter.config import ConfigError
from llmrouter.shared_state import EmbeddedState, SharedState, StateConfig, open_state
from router_svc.admin_store import AdminStore
from router_svc.alerts import (
    SIGNATURE_HEADER,
    Alerter,
    AlertsConfig,
    BudgetUsage,
    Delivery,
    WebhookConfig,
    signature_header,
    verify,
)
from router_svc.config import load_config
from tests.fakes.webhook import WebhookReceiver, running_receiver
from tests.pg import fresh_pg_database
from tests.test_shared_state import REDIS_URL, _redis_up

SECRET = "whsec-test-0123456789"
PERIOD = datetime(2026, 12, 1, tzinfo=UTC)


def alerts_config(receiver: WebhookReceiver | None, **overrides: Any) -> AlertsConfig:
    fields: dict[str, Any] = dict(
        webhooks=(WebhookConfig(url=receiver.url, secret_env="ALERT_SECRET"),) if receiver else (),
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
        timeout_s=5.0,
    )
    fields.update(overrides)
    return AlertsConfig(**fields)


def make_alerter(
    config: AlertsConfig,
    state: SharedState,
    store: AdminStore | None = None,
    registry: CollectorRegistry | None = None,
) -> Alerter:
    webhooks = config.receivers({"ALERT_SECRET": SECRET})
    alerter = Alerter(
        config,
        state,
        store.alerts if store else None,
        Delivery(webhooks, config),
        registry=registry,
    )
    alerter.start()
    return alerter


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AdminStore]:
    """The admin store alerts are kept in: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        opened = await AdminStore.open(f"sqlite:///{tmp_path}/admin.sqlite3")
        yield opened
        await opened.close()
        return
    async with fresh_pg_database("llmrouter_alerts") as url:
        opened = await AdminStore.open(url)
        yield opened
        await opened.close()


def usage(spent: float, *, budget: str = "b-daily", start: datetime = PERIOD) -> BudgetUsage:
    return BudgetUsage(
        budget_id=budget,
        scope="key",
        subject="key-alpha",
        period_start=start,
        spent_usd=spent,
        soft_usd=6.0,
        hard_usd=10.0,
    )


async def test_each_budget_threshold_arrives_once_signed_and_is_stored(
    store: AdminStore,
) -> None:
    async with running_receiver() as receiver:
        alerter = make_alerter(alerts_config(receiver), EmbeddedState(), store)
        try:
            for spent in (1.0, 4.0, 5.0, 5.5, 6.5, 7.0, 8.0, 9.0, 9.9, 10.0, 12.0):
                for _ in range(20):  # the budgets module reports after every settle
                    alerter.budget_usage(usage(spent))
                await alerter.drain()
        finally:
            await alerter.stop()
    bodies = [d.json for d in receiver.received]
    fired = [(b["kind"], b["threshold"]) for b in bodies]
    assert fired == [
        ("budget_threshold", 50.0),
        ("budget_soft_limit", 6.0),
        ("budget_threshold", 80.0),
        ("budget_threshold", 100.0),
    ]
    now = time.time()
    for delivered in receiver.received:
        header = delivered.headers[SIGNATURE_HEADER.lower()]
        assert verify(SECRET.encode(), header, delivered.body, now)
        assert not verify(b"another secret", header, delivered.body, now)
        assert not verify(SECRET.encode(), header, delivered.body + b" ", now)
        assert delivered.headers["content-type"] == "application/json"
        assert delivered.headers["x-llmrouter-alert-id"] == delivered.json["id"]
    eighty = bodies[2]
    assert eighty["subject"] == {"scope": "key", "id": "key-alpha"}
    assert eighty["value"] == pytest.approx(80.0)
    assert eighty["period_start"] == "2026-12-01T00:00:00Z"
    assert eighty["budget"] == {
        "id": "b-daily",
        "period_start": "2026-12-01T00:00:00Z",
        "spent_usd": 8.0,
        "soft_usd": 6.0,
        "hard_usd": 10.0,
    }
    assert "80 % of its hard limit" in eighty["message"]
    stored = await store.alerts.page(50)
    assert [a.alert_id for a in stored] == [b["id"] for b in reversed(bodies)]
    assert {a.delivery_status for a in stored} == {"delivered"}
    assert all(a.delivery_attempts == 1 and a.delivered_time is not None for a in stored)
    assert stored[0].payload == bodies[-1]


async def test_a_new_period_and_another_budget_alert_again() -> None:
    async with running_receiver() as receiver:
        alerter = make_alerter(alerts_config(receiver, budget_thresholds=(50.0,)), EmbeddedState())
        try:
            alerter.budget_usage(usage(5.0))
            alerter.budget_usage(usage(5.0, start=PERIOD + timedelta(days=1)))
            alerter.budget_usage(usage(5.0, budget="b-monthly"))
            alerter.budget_usage(usage(5.0))
            await alerter.drain()
        finally:
            await alerter.stop()
    fired = [(b["budget"]["id"], b["period_start"]) for b in (d.json for d in receiver.received)]
    assert sorted(fired) == [
        ("b-daily", "2026-12-01T00:00:00Z"),
        ("b-daily", "2026-12-02T00:00:00Z"),
        ("b-monthly", "2026-12-01T00:00:00Z"),
    ]


async def test_two_alerters_sharing_redis_deliver_each_threshold_once() -> None:
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    config = StateConfig(
        backend="redis",
        redis_url=REDIS_URL,
        key_prefix=f"llmrouter-test:{uuid.uuid4().hex}:",
        operation_timeout_ms=5000,
    )
    one, two = open_state(config), open_state(config)
    async with running_receiver() as receiver:
        first = make_alerter(alerts_config(receiver), one)
        second = make_alerter(alerts_config(receiver), two)
        try:
            for spent in (5.0, 8.5, 11.0):
                for _ in range(25):
                    first.budget_usage(usage(spent))
                    second.budget_usage(usage(spent))
                await asyncio.gather(first.drain(), second.drain())
        finally:
            await first.stop()
            await second.stop()
            await one.close()
            await two.close()
    fired = sorted((b["kind"], b["threshold"]) for b in (d.json for d in receiver.received))
    assert fired == [
        ("budget_soft_limit", 6.0),
        ("budget_threshold", 50.0),
        ("budget_threshold", 80.0),
        ("budget_threshold", 100.0),
    ]


async def test_a_5xx_is_retried_with_the_same_body_and_a_fresh_signature(
    store: AdminStore,
) -> None:
    async with running_receiver(statuses=[500, 503]) as receiver:
        alerter = make_alerter(
            alerts_config(receiver, budget_thresholds=(50.0,)), EmbeddedState(), store
        )
        try:
            alerter.budget_usage(usage(5.0))
            await alerter.drain()
        finally:
            await alerter.stop()
    assert len(receiver.received) == 3
    assert len({d.body for d in receiver.received}) == 1
    now = time.time()
    assert all(
        verify(SECRET.encode(), d.headers[SIGNATURE_HEADER.lower()], d.body, now)
        for d in receiver.received
    )
    [stored] = await store.alerts.page(10)
    assert (stored.delivery_status, stored.delivery_attempts, stored.delivery_error) == (
        "delivered",
        3,
        "",
    )


async def test_a_4xx_is_not_retried_and_a_dead_webhook_gives_up(store: AdminStore) -> None:
    async with running_receiver(statuses=[400]) as receiver:
        alerter = make_alerter(
            alerts_config(receiver, budget_thresholds=(50.0,)), EmbeddedState(), store
        )
        try:
            alerter.budget_usage(usage(5.0))
            await alerter.drain()
        finally:
            await alerter.stop()
    assert len(receiver.received) == 1
    [refused] = await store.alerts.page(10)
    assert refused.delivery_status == "failed"
    assert refused.delivery_error == f"http://127.0.0.1:{receiver.port}: HTTP 400"
    # Nothing listens on the port any more: connection errors, tried max_attempts times.
    dead = WebhookConfig(url=f"{receiver.url}?token=sekrit", secret_env="ALERT_SECRET")
    config = alerts_config(None, webhooks=(dead,), max_attempts=3, budget_thresholds=(80.0,))
    alerter = make_alerter(config, EmbeddedState(), store)
    try:
        alerter.budget_usage(usage(9.0))
        await alerter.drain()
    finally:
        await alerter.stop()
    newest = (await store.alerts.page(10))[0]
    assert (newest.delivery_status, newest.delivery_attempts) == ("failed", 3)
    assert newest.delivery_error.startswith(f"http://127.0.0.1:{receiver.port}: ")
    assert "sekrit" not in newest.delivery_error
    assert "/hooks" not in newest.delivery_error


async def test_without_webhooks_alerts_are_still_kept(store: AdminStore) -> None:
    alerter = make_alerter(alerts_config(None), EmbeddedState(), store)
    try:
        alerter.budget_usage(usage(5.0))
        await alerter.drain()
    finally:
        await alerter.stop()
    [kept] = await store.alerts.page(10)
    assert (kept.kind, kept.delivery_status, kept.delivery_attempts) == (
        "budget_threshold",
        "no_webhook",
        0,
    )


async def test_a_full_queue_drops_logs_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    config = alerts_config(None, queue_size=1)
    # Not started: nothing takes alerts off the queue.
    alerter = Alerter(config, EmbeddedState(), None, Delivery((), config), registry=registry)
    with caplog.at_level(logging.WARNING, "router_svc.alerts"):
        alerter.budget_usage(usage(12.0))  # 50, 80, 100 % and the soft limit: 4 alerts
    dropped = registry.get_sample_value(
        "llmrouter_alerts_dropped_total", {"kind": "budget_threshold"}
    )
    assert dropped == 2.0
    assert (
        registry.get_sample_value("llmrouter_alerts_dropped_total", {"kind": "budget_soft_limit"})
        == 1.0
    )
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 3
    # A dropped alert is not remembered as sent: a later report queues it again.
    alerter.start()
    await alerter.drain()
    alerter.budget_usage(usage(12.0))
    await alerter.drain()
    await alerter.stop()
    fired = registry.get_sample_value("llmrouter_alerts_fired_total", {"kind": "budget_threshold"})
    assert fired == 2.0


async def test_error_rate_and_latency_alert_once_per_cooldown() -> None:
    now = [1000.0]
    async with running_receiver() as receiver:
        config = alerts_config(
            receiver,
            error_rate=0.5,
            latency_p95_s=2.0,
            min_requests=10,
            window_s=60.0,
            cooldown_s=600.0,
        )
        webhooks = config.receivers({"ALERT_SECRET": SECRET})
        alerter = Alerter(
            config,
            EmbeddedState(clock=lambda: now[0]),
            None,
            Delivery(webhooks, config),
            clock=lambda: now[0],
        )
        alerter.start()
        try:
            for _ in range(9):  # below min_requests: nothing, however bad
                alerter.request_finished("key-slow", False, 5.0)
            await alerter.drain()
            assert receiver.received == []
            for i in range(30):
                alerter.request_finished("key-slow", i % 2 == 0, 5.0)
                alerter.request_finished("key-fine", True, 0.1)
            await alerter.drain()
            kinds = sorted((d.json["kind"], d.json["subject"]["id"]) for d in receiver.received)
            assert kinds == [("error_rate", "key-slow"), ("latency", "key-slow")]
            latency = next(d.json for d in receiver.received if d.json["kind"] == "latency")
            assert latency["threshold"] == 2.0
            assert latency["p95_latency_s"] == 5.0
            # Fired by the 10th request: 9 failed, all slow.
            assert latency["window"]["requests"] == 10
            errors = next(d.json for d in receiver.received if d.json["kind"] == "error_rate")
            assert (errors["window"]["errors"], errors["value"]) == (9, 0.9)
            now[0] += 601.0  # past the cooldown, still failing: alerts again
            for _ in range(20):
                alerter.request_finished("key-slow", False, 0.1)
            await alerter.drain()
            assert [d.json["kind"] for d in receiver.received[2:]] == ["error_rate"]
        finally:
            await alerter.stop()


def test_secrets_come_from_the_environment_only() -> None:
    config = load_config(
        document={
            "router": {
                "alerts": {
                    "webhooks": [{"url": "https://hooks.example.com/a", "secret_env": "HOOK_S"}]
                }
            }
        },
        environ={},
    )
    with pytest.raises(ConfigError, match=r"router\.alerts\.webhooks\[0\]\.secret_env: .*HOOK_S"):
        config.alerts.receivers({})
    [hook] = config.alerts.receivers({"HOOK_S": "s3cret"})
    assert hook.secret == b"s3cret"
    assert hook.name == "https://hooks.example.com"
    with pytest.raises(ConfigError, match=r"router\.alerts\.webhooks\[0\]\.secret_env"):
        load_config(
            document={"router": {"alerts": {"webhooks": [{"url": "https://h.example.com"}]}}},
            environ={},
        )
    with pytest.raises(ConfigError, match=r"router\.alerts\.error_rate: expected 0 to 1"):
        load_config(environ={"LLMROUTER_ROUTER_ALERTS_ERROR_RATE": "1.5"}, document={})
    loaded = load_config(
        environ={"LLMROUTER_ROUTER_ALERTS_BUDGET_THRESHOLDS": "75,90"}, document={}
    )
    assert loaded.alerts.budget_thresholds == (75.0, 90.0)


def test_the_readme_verification_snippet_accepts_our_signatures_only() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Alerts") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)  # the operator's copy, as printed
    body = b'{"kind":"error_rate"}'
    header = signature_header(SECRET.encode(), int(time.time()), body)
    assert namespace["verify"](SECRET.encode(), header, body)
    assert not namespace["verify"](b"wrong", header, body)
    assert not namespace["verify"](SECRET.encode(), header, body + b" ")
    stale = signature_header(SECRET.encode(), int(time.time()) - 3600, body)
    assert not namespace["verify"](SECRET.encode(), stale, body)


async def test_a_restarted_router_does_not_fire_a_budget_alert_again(store: AdminStore) -> None:
    """A router restarted in the same period (its embedded shared state is new, the admin store
    the same) does not deliver the period's 50 % alert a second time; the alert's id is the same
    each time it is built, so a receiver could deduplicate it too."""
    async with running_receiver() as receiver:
        for _ in range(2):  # the router before and after its restart
            alerter = make_alerter(alerts_config(receiver), EmbeddedState(), store)
            try:
                alerter.budget_usage(usage(5.5))
                await alerter.drain()
            finally:
                await alerter.stop()
        # The next period is a new alert.
        alerter = make_alerter(alerts_config(receiver), EmbeddedState(), store)
        try:
            alerter.budget_usage(usage(5.5, start=PERIOD.replace(day=2)))
            await alerter.drain()
        finally:
            await alerter.stop()
    fired = [(b["threshold"], b["period_start"]) for b in (d.json for d in receiver.received)]
    assert fired == [(50.0, "2026-12-01T00:00:00Z"), (50.0, "2026-12-02T00:00:00Z")]
    stored = await store.alerts.page(50)
    assert len(stored) == 2
