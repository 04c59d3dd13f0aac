"""Budgets of virtual keys and teams (created at runtime over the admin API) hold like config
budgets, through every front door: a key's hard budget refuses with 429 insufficient_quota
naming ``<key id>.day`` whether the request came as a chat completion, an Anthropic message or
a Responses request; its team's budget binds a second key of the team; ListBudgets shows both.
Real processes (metrics, router, gateway), a fake OpenAI-compatible upstream, the official
``openai`` and ``anthropic`` SDKs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import pytest_asyncio

from tests.fakes import Behavior
from tests.fakes.upstream import running_upstream

from .stack import Stack, gateway_section, metrics_section, router_section, stack

OPS = "sk-ops-vkbudget-0001"
# What each answer costs: 1 prompt token at $1/1K plus 10 completion tokens at $2/1K.
COST = 1 * 0.001 + 10 * 0.002


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_upstream() as upstream, stack(tmp_path) as s:
        upstream.set("a", *[Behavior(prompt_tokens=1, chunks=10)] * 50)
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        body = f"""default_chain = ["a"]
budget_reconcile_interval_s = 0

[[router.providers]]
name = "upstream"
kind = "openai"
base_url = "{upstream.base_url}/v1"

[[router.models]]
name = "a"
provider = "upstream"
input_price_per_million = 1000.0
output_price_per_million = 2000.0
"""
        router = await s.start(
            "router", "router", router_section(tmp_path, "r", metrics.port, body)
        )
        digest = hashlib.sha256(OPS.encode()).hexdigest()
        keys = f'api_keys = [{{ id = "ops", sha256 = "{digest}", admin = true }}]'
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port, keys))
        yield s


async def _create(http: httpx.AsyncClient, path: str, body: dict[str, object]) -> dict[str, str]:
    reply = await http.post(path, json=body)
    assert reply.status_code == 201, reply.text
    created: dict[str, str] = reply.json()
    return created


async def test_virtual_key_and_team_budgets_hold_through_every_front_door(
    running: Stack,
) -> None:
    ops = {"authorization": f"Bearer {OPS}"}
    async with httpx.AsyncClient(base_url=running.url, headers=ops, timeout=30) as http:
        # The team may spend three answers a month; its first key two a day (the margin: a
        # reservation is the worst case, a little over one answer's cost).
        team = await _create(
            http,
            "/v1/admin/teams",
            {"name": "search", "budgets": [{"period": "month", "hard_usd": 3.5 * COST}]},
        )
        first = await _create(
            http,
            "/v1/admin/keys",
            {
                "name": "first",
                "team_id": team["id"],
                "budgets": [{"period": "day", "hard_usd": 2.5 * COST}],
            },
        )
        second = await _create(http, "/v1/admin/keys", {"name": "second", "team_id": team["id"]})
        hello = [{"role": "user", "content": "hi"}]
        async with (
            openai.AsyncOpenAI(
                base_url=f"{running.url}/v1", api_key=first["secret"], max_retries=0
            ) as chat,
            anthropic.AsyncAnthropic(
                base_url=running.url, api_key=first["secret"], max_retries=0
            ) as claude,
        ):
            await chat.chat.completions.create(model="auto", messages=hello, max_tokens=10)  # type: ignore[arg-type]
            await claude.messages.create(model="auto", messages=hello, max_tokens=10)  # type: ignore[arg-type]
            # Two answers spent: the third does not fit the key's day, whichever door.
            with pytest.raises(openai.RateLimitError) as refused:
                await chat.responses.create(model="auto", input="hi", max_output_tokens=10)
            assert refused.value.code == "insufficient_quota"
            assert f"budget '{first['id']}.day'" in str(refused.value.body)
            with pytest.raises(anthropic.RateLimitError):
                await claude.messages.create(model="auto", messages=hello, max_tokens=10)  # type: ignore[arg-type]
        # The team has room for one more answer, which its second key takes; then the team's
        # month refuses it.
        async with openai.AsyncOpenAI(
            base_url=f"{running.url}/v1", api_key=second["secret"], max_retries=0
        ) as chat:
            await chat.chat.completions.create(model="auto", messages=hello, max_tokens=10)  # type: ignore[arg-type]
            with pytest.raises(openai.RateLimitError) as refused:
                await chat.chat.completions.create(model="auto", messages=hello, max_tokens=10)  # type: ignore[arg-type]
            assert f"budget '{team['id']}.month'" in str(refused.value.body)
        budgets = {b["id"]: b for b in (await http.get("/v1/admin/budgets")).json()["budgets"]}
    key_rule, team_rule = budgets[f"{first['id']}.day"], budgets[f"{team['id']}.month"]
    assert (key_rule["scope"], key_rule["subject"]) == ("key", first["id"])
    assert key_rule["spent_usd"] == pytest.approx(2 * COST)
    assert (team_rule["scope"], team_rule["subject"]) == ("team", team["id"])
    assert team_rule["spent_usd"] == pytest.approx(3 * COST)
