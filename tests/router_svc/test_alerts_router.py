"""A key's error-rate alert from a real router over a failing fake upstream, delivered to a
real webhook receiver; invalid requests are the caller's and do not count."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from llmrouter.v1 import chat_pb2, router_admin_service_pb2_grpc, router_service_pb2
from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from router_svc.alerts import SIGNATURE_HEADER, AlertsConfig, WebhookConfig, verify
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream
from tests.fakes.webhook import running_receiver

from .conftest import model

SECRET = "router-alert-secret"
PROMPT = "canary-prompt-7f3a9 tell me everything"


def chat(key: str, **fields: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="a",
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=PROMPT)],
        caller=chat_pb2.Caller(api_key_id=key, source="tests"),
        **fields,
    )


async def complete(stub: Any) -> None:
    await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("key-ops")))


async def stream(stub: Any) -> None:
    request = router_service_pb2.StreamCompleteRequest(chat=chat("key-ops"))
    async for _ in stub.StreamComplete(request):
        pass


async def test_a_failing_upstream_fires_the_keys_error_rate_alert_once(
    make_router: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_ALERT_SECRET", SECRET)
    upstream.set("a", Behavior(status=500))
    async with running_receiver() as receiver:
        alerts = AlertsConfig(
            webhooks=(WebhookConfig(url=receiver.url, secret_env="ROUTER_ALERT_SECRET"),),
            error_rate=0.5,
            min_requests=6,
            initial_backoff_s=0.01,
        )
        running, stub = await make_router(
            (model("a"),), ("a",), alerts=alerts, retry=RetryConfig(attempts_per_model=1)
        )
        # Invalid requests are the caller's fault: never an error of the key's traffic.
        for _ in range(10):
            with pytest.raises(grpc.aio.AioRpcError) as invalid:
                await stub.Complete(
                    router_service_pb2.CompleteRequest(chat=chat("key-ops", temperature=9.0))
                )
            assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert running.alerts is not None
        await running.alerts.drain()
        assert receiver.received == []
        # Two good answers from another key, then the failures of key-ops, whole and streamed.
        upstream.set("a", Behavior(), Behavior(), Behavior(status=500))
        for _ in range(2):
            await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("key-calm")))
        for i in range(12):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await (complete(stub) if i % 2 else stream(stub))
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        await receiver.wait_for(1)
        await running.alerts.drain()
        [delivered] = receiver.received
        body = delivered.json
        assert body["kind"] == "error_rate"
        assert body["subject"] == {"scope": "key", "id": "key-ops"}
        # Fired at the 6th failure: the 10 invalid requests never entered the window.
        assert body["window"]["requests"] == 6
        assert body["window"]["errors"] == 6
        assert verify(
            SECRET.encode(),
            delivered.headers[SIGNATURE_HEADER.lower()],
            delivered.body,
            time.time(),
        )
        assert b"canary-prompt" not in delivered.body
        [stored] = await running.admin.store.alerts.page(10)
        assert (stored.alert_id, stored.delivery_status) == (body["id"], "delivered")
        fired = running.metrics.registry.get_sample_value(
            "llmrouter_alerts_fired_total", {"kind": "error_rate"}
        )
        assert fired == 1.0


async def test_list_alerts_pages_newest_first(make_router: Any, upstream: FakeUpstream) -> None:
    running, _ = await make_router((model("a"),), ("a",), alerts=AlertsConfig(min_requests=2))
    assert running.alerts is not None
    for key in ("k1", "k2", "k3"):
        for _ in range(2):
            running.alerts.request_finished(key, False, 0.5)
        await running.alerts.drain()  # one after another: alerts are delivered concurrently
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        first = await admin.ListAlerts(admin_pb.ListAlertsRequest(page_size=2))
        assert [a.subject for a in first.alerts] == ["k3", "k2"]
        newest = first.alerts[0]
        assert (newest.kind, newest.scope, newest.threshold, newest.value) == (
            "error_rate",
            "key",
            0.5,
            1.0,
        )
        assert newest.delivery_status == admin_pb.ALERT_DELIVERY_STATUS_NO_WEBHOOK
        assert newest.alert_id.startswith("alert_")
        assert newest.payload["id"] == newest.alert_id
        assert "2 of the last 2 requests of key k3 failed" in newest.message
        rest = await admin.ListAlerts(
            admin_pb.ListAlertsRequest(page_size=2, page_token=first.next_page_token)
        )
        assert [a.subject for a in rest.alerts] == ["k1"]
        assert rest.next_page_token == ""
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await admin.ListAlerts(admin_pb.ListAlertsRequest(page_token="nope"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (bad.value.details() or "")
