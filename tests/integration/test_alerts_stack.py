"""Alerts end to end (issue 20): the official ``openai`` package through the real gateway,
router and metrics processes to a failing upstream; the router's error-rate alert for the
caller's key reaches a real webhook receiver once, signed, and is listed by
``GET /v1/admin/alerts``. Canary: neither the prompt nor the API key's secret appears in
the webhook payload, the admin API's answer or the router's admin store."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from router_svc.alerts import SIGNATURE_HEADER, verify
from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.fakes.webhook import WebhookReceiver, running_receiver

from .conftest import started, write_config

KEY = "sk-alerts-canary-5b1e0c7d9a"
ADMIN_KEY = "sk-alerts-admin-0c4f2e8a61"
PROMPT = "canary-prompt-a81c3 what is the secret plan"
SECRET = "whsec-stack-3f9b"


async def ask(client: openai.AsyncOpenAI, stream: bool) -> None:
    """One chat with the canary prompt, whole or streamed (read to its end)."""
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    if not stream:
        await client.chat.completions.create(model="auto", messages=messages)
        return
    async for _ in await client.chat.completions.create(
        model="auto", messages=messages, stream=True
    ):
        pass


async def test_a_keys_error_rate_alert_reaches_the_webhook_once_without_secrets(
    tmp_path: Path,
) -> None:
    async with running_upstream() as fake, running_receiver() as receiver:
        await run(tmp_path, fake, receiver)


async def run(tmp_path: Path, fake: FakeUpstream, receiver: WebhookReceiver) -> None:
    router = f"""default_chain = ["gpt"]
[router.retry]
attempts_per_model = 1
[router.alerts]
error_rate = 0.5
min_requests = 4
initial_backoff_s = 0.05
webhooks = [{{url = "{receiver.url}", secret_env = "ALERT_WEBHOOK_SECRET"}}]
[[router.providers]]
name = "compatible"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "gpt"
provider = "compatible"
"""
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"team-blue:{KEY}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN_KEY}",
        "ALERT_WEBHOOK_SECRET": SECRET,
    }
    fake.set("gpt", Behavior(status=500))
    config = write_config(tmp_path, router, "auth_enabled = true")
    async with started(config, env) as stack:
        client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
        for i in range(10):
            with pytest.raises(openai.APIStatusError):
                await ask(client, stream=i % 2 == 0)
        await receiver.wait_for(1, timeout_s=20)
        async with httpx.AsyncClient(
            base_url=stack.url, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        ) as http:
            async with asyncio.timeout(20):
                while True:
                    listed = await http.get("/v1/admin/alerts")
                    assert listed.status_code == 200, listed.text
                    alerts = listed.json()["alerts"]
                    if alerts and alerts[0]["delivery"]["status"] != "pending":
                        break
                    await asyncio.sleep(0.1)
            refused = await http.get("/v1/admin/alerts", headers={"authorization": f"Bearer {KEY}"})
            assert refused.status_code == 403
    [delivered] = receiver.received  # once, though the key kept failing after it fired
    body = delivered.json
    assert body["kind"] == "error_rate"
    assert body["subject"] == {"scope": "key", "id": "team-blue"}
    assert body["window"]["requests"] == 4
    assert verify(
        SECRET.encode(), delivered.headers[SIGNATURE_HEADER.lower()], delivered.body, time.time()
    )
    [alert] = alerts
    assert alert["alert_id"] == body["id"]
    assert alert["payload"] == body
    assert alert["delivery"]["status"] == "delivered"
    store = tmp_path / "state.sqlite3"
    with sqlite3.connect(store) as db:
        stored = "\n".join(str(row) for row in db.execute("SELECT * FROM admin_alerts"))
    assert body["id"] in stored
    for canary in ("canary-prompt", KEY, "5b1e0c7d9a", SECRET, ADMIN_KEY):
        assert canary not in delivered.body.decode()
        assert canary not in listed.text
        assert canary not in stored
