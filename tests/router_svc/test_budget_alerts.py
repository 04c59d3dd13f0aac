"""Budgets and alerts together, through a real router: each settle reports the budget's
standing to the alerter, which POSTs each threshold crossed (and the soft limit) once to a real
webhook receiver, however many requests follow in the same period."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.alerts import AlertsConfig, WebhookConfig
from router_svc.budgets import BudgetRule
from tests.fakes import Behavior, FakeUpstream
from tests.fakes.webhook import running_receiver

from .conftest import model

# $1 per thousand prompt tokens, $2 per thousand completion tokens: each answer below is
# 1 prompt token and 10 completion tokens, $0.021.
PRICES = {"input_price_per_million": 1000.0, "output_price_per_million": 2000.0}


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="auto",
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")],
        max_tokens=10,
        caller=chat_pb2.Caller(api_key_id="k1"),
    )


async def test_budget_thresholds_alert_once_each_from_real_settles(
    make_router: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_ALERT_SECRET", "budget-alert-secret")
    upstream.set("a", Behavior(prompt_tokens=1, chunks=10))
    # $0.075 a day: answers 1-3 fit ($0.021 each, plus the reservation's margin), the 4th
    # does not. After the 2nd: 56 % (50 % threshold) and past the $0.03 soft limit; after
    # the 3rd: 84 % (80 %). 100 % is never reached: the budget refuses before it.
    rule = BudgetRule("k1-daily", "key", "k1", "day", hard_usd=0.075, soft_usd=0.03)
    async with running_receiver() as receiver:
        alerts = AlertsConfig(
            webhooks=(WebhookConfig(url=receiver.url, secret_env="ROUTER_ALERT_SECRET"),),
            initial_backoff_s=0.01,
        )
        running, stub = await make_router(
            (model("a", **PRICES),), ("a",), budgets=(rule,), alerts=alerts
        )
        for _ in range(3):
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await receiver.wait_for(3)
        assert running.alerts is not None
        await running.alerts.drain()
        bodies = [r.json for r in receiver.received]
        fired = sorted((b["kind"], b["threshold"]) for b in bodies)
        assert fired == [
            ("budget_soft_limit", 0.03),
            ("budget_threshold", 50.0),
            ("budget_threshold", 80.0),
        ]
        for body in bodies:
            assert body["subject"] == {"scope": "key", "id": "k1"}
            assert body["budget"]["id"] == "k1-daily"
            assert body["budget"]["hard_usd"] == 0.075
        # The 80 % alert carries the spend that crossed it: three answers.
        [eighty] = [b for b in bodies if b["threshold"] == 80.0]
        assert eighty["budget"]["spent_usd"] == pytest.approx(3 * 0.021)
