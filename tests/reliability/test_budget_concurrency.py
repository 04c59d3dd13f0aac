"""Budgets under concurrency, through real processes (metrics service, router replicas,
gateway) and the official OpenAI SDK: 200 requests at once against a key whose hard budget
allows about 50 answers. At most the budget is spent (the bound: one reservation more, should
an upstream report more prompt tokens than the router estimated; here it never does), every
other request gets 429 ``insufficient_quota`` naming the budget (the SDK's RateLimitError),
and the ledger agrees with the counters, read back through ``GET /v1/admin/budgets``, with
reconciliation off, so the counters are checked on their own. With one router (embedded
store) and with three routers sharing the machine's Redis. A team budget binds the team's
two keys together."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import pytest_asyncio

from tests.fakes import Behavior, FakeUpstream
from tests.fakes.upstream import running_upstream

from .stack import Stack, gateway_section, metrics_section, router_section, stack

KEYS = {"alice": "sk-alice-budget-0123", "bob": "sk-bob-budget-0123", "ops": "sk-ops-budget-01"}
# What each answer costs: 1 prompt token at $1/1K plus 10 completion tokens at $2/1K.
COST = 1 * 0.001 + 10 * 0.002
HARD = 50 * COST  # about 50 answers
TEAM_HARD = 8 * COST
REQUESTS = 200


@dataclass
class Budgeted:
    stack: Stack
    upstream: FakeUpstream
    db: Path

    def client(self, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.stack.url}/v1", api_key=KEYS[key], max_retries=0, timeout=60
        )

    async def budgets(self) -> dict[str, dict[str, object]]:
        async with httpx.AsyncClient() as http:
            reply = await http.get(
                f"{self.stack.url}/v1/admin/budgets",
                headers={"authorization": f"Bearer {KEYS['ops']}"},
            )
        assert reply.status_code == 200, reply.text
        return {b["id"]: b for b in reply.json()["budgets"]}

    def ledger(self, column: str, value: str) -> tuple[int, float]:
        with sqlite3.connect(self.db) as conn:
            rows, cost = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM usage_records "
                f"WHERE {column} = ?",
                (value,),
            ).fetchone()
        return int(rows), float(cost)


def _keys() -> str:
    def entry(name: str, extra: str) -> str:
        digest = hashlib.sha256(KEYS[name].encode()).hexdigest()
        return f'{{ id = "{name}", sha256 = "{digest}"{extra} }}'

    entries = [
        entry("alice", ', team = "search"'),
        entry("bob", ', team = "search"'),
        entry("ops", ", admin = true"),
    ]
    return f"api_keys = [{', '.join(entries)}]"


def _router_body(base_url: str, replicas: int) -> str:
    return f"""default_chain = ["a"]
rate_limit_replicas = {replicas}
budget_reconcile_interval_s = 0

[[router.providers]]
name = "upstream"
kind = "openai"
base_url = "{base_url}/v1"

[[router.models]]
name = "a"
provider = "upstream"
input_price_per_million = 1000.0
output_price_per_million = 2000.0

[[router.budgets]]
id = "alice-daily"
scope = "key"
subject = "alice"
period = "day"
hard_usd = {HARD}
soft_usd = {HARD / 2}

[[router.budgets]]
id = "search-monthly"
scope = "team"
subject = "search"
period = "month"
hard_usd = {HARD + TEAM_HARD}
"""


async def _run(tmp: Path, replicas: int, backend: str) -> AsyncIterator[Budgeted]:
    state = f"""
[state]
backend = "{backend}"
redis_url = "redis://127.0.0.1:6379/0"
key_prefix = "llmrouter-test:{uuid.uuid4().hex}:"
# Correctness, not latency: on a loaded machine a slow answer must not become an outage (whose
# per-replica counting reconciliation corrects, off here).
operation_timeout_ms = 5000
"""
    async with running_upstream() as upstream, stack(tmp) as s:
        upstream.set("a", *[Behavior(prompt_tokens=1, chunks=10, delay_s=0.02)] * 400)
        metrics = await s.start("metrics", "metrics", metrics_section(tmp))
        ports = []
        for n in range(replicas):
            body = _router_body(upstream.base_url, replicas)
            section = router_section(tmp, f"r{n}", metrics.port, body) + state
            ports.append((await s.start(f"router{n}", "router", section)).port)
        await s.start("gateway", "gateway", gateway_section(ports, metrics.port, _keys()))
        yield Budgeted(s, upstream, tmp / "metrics.sqlite3")


@pytest_asyncio.fixture(params=[(1, "embedded"), (3, "redis")], ids=["1-embedded", "3-redis"])
async def budgeted(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Budgeted]:
    replicas, backend = request.param
    async for running in _run(tmp_path, replicas, backend):
        yield running


async def _ask(client: openai.AsyncOpenAI) -> object:
    try:
        return await client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], max_tokens=10
        )
    except openai.APIStatusError as exc:
        return exc


async def _settled(budgeted: Budgeted, rule: str, rows: int, column: str, value: str) -> None:
    """Wait until the ledger holds ``rows`` rows and the rule reserves nothing any more."""
    async with asyncio.timeout(30):
        while True:
            have, _ = await asyncio.to_thread(budgeted.ledger, column, value)
            standing = (await budgeted.budgets())[rule]
            if have >= rows and standing["reserved_usd"] == 0:
                return
            await asyncio.sleep(0.1)


async def test_concurrent_requests_spend_at_most_the_budget(budgeted: Budgeted) -> None:
    client = budgeted.client("alice")
    answers = await asyncio.gather(*(_ask(client) for _ in range(REQUESTS)))
    served = [a for a in answers if not isinstance(a, openai.APIStatusError)]
    refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
    assert len(served) + len(refused) == REQUESTS, [
        a for a in answers if isinstance(a, openai.APIStatusError) and a not in refused
    ]
    # The worst case reserved per request is a little over COST (the prompt's estimate is at
    # least the 1 token the upstream reports); so while 200 are in flight at most ~50 fit,
    # and never more than HARD / COST.
    assert 30 <= len(served) <= 50
    error = refused[0]
    assert error.code == "insufficient_quota"
    body = error.body
    assert isinstance(body, dict)
    assert body["type"] == "insufficient_quota"
    assert "budget 'alice-daily'" in body["message"]
    assert error.response.headers.get("x-should-retry") == "false"
    retry_after = int(error.response.headers["retry-after"])
    assert 0 < retry_after <= 86400  # never past the end of the UTC day

    await _settled(budgeted, "alice-daily", len(served), "api_key_id", "alice")
    rows, spent = await asyncio.to_thread(budgeted.ledger, "api_key_id", "alice")
    assert rows == len(served) == budgeted.upstream.calls("a")
    # The bound: at most one reservation (the largest one attempt may hold) past the budget.
    one_reservation = 2 * COST
    assert spent <= HARD + one_reservation
    assert spent == pytest.approx(len(served) * COST)
    standing = (await budgeted.budgets())["alice-daily"]
    assert standing["spent_usd"] == pytest.approx(spent)  # the counters agree with the ledger
    assert standing["remaining_usd"] == pytest.approx(HARD - spent)
    assert standing["soft_usd"] == pytest.approx(HARD / 2)
    assert standing["local"] is False
    team = (await budgeted.budgets())["search-monthly"]
    assert team["spent_usd"] == pytest.approx(spent)  # alice's spending is her team's too

    # Bob, of the same team, gets what the team budget has left after alice (at least
    # TEAM_HARD), no more.
    left = HARD + TEAM_HARD - spent
    bob = budgeted.client("bob")
    answers = await asyncio.gather(*(_ask(bob) for _ in range(40)))
    bob_served = [a for a in answers if not isinstance(a, openai.APIStatusError)]
    bob_refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
    assert 1 <= len(bob_served) <= left / COST + 1e-9
    assert len(bob_refused) == 40 - len(bob_served)
    assert "budget 'search-monthly'" in str(bob_refused[0].body)
    await _settled(budgeted, "search-monthly", len(served) + len(bob_served), "team_id", "search")
    _, team_spent = await asyncio.to_thread(budgeted.ledger, "team_id", "search")
    assert team_spent <= HARD + TEAM_HARD + one_reservation
    assert (await budgeted.budgets())["search-monthly"]["spent_usd"] == pytest.approx(team_spent)
