"""Per-key views end to end (issue 20): real gateway, router and metrics processes, the official
``openai`` package as the client. alice and bob are in team search; alice has a key budget,
search a team budget, ops is the admin key. After their requests, ``/v1/costs`` by key and by
team, ``/v1/usage`` of each key, the router's ``/v1/admin/budgets`` and the ledger's own rows
agree with what the prices say the tokens cost; a key sees only its own usage and rules, and
asking for another key's or team's is a 403 naming the parameter."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "alice": "sk-views-alice-0f1e2d3c4b",
    "bob": "sk-views-bob-9a8b7c6d5e",
    "ops": "sk-views-ops-1a2b3c4d5e",
}
# USD per million tokens, and what each answer reports: 1,000 prompt tokens, 4 completion.
INPUT_PRICE, OUTPUT_PRICE = 2.0, 10.0
PROMPT, COMPLETION = 1000, 4
PER_REQUEST = (PROMPT * INPUT_PRICE + COMPLETION * OUTPUT_PRICE) / 1e6  # $0.00204
ALICE_HARD, TEAM_HARD = 1.0, 5.0
ALICE_REQUESTS, BOB_REQUESTS = 3, 2


def key_entries() -> str:
    def entry(name: str, extra: str) -> str:
        digest = hashlib.sha256(KEYS[name].encode()).hexdigest()
        return f'{{ id = "{name}", sha256 = "{digest}"{extra} }}'

    entries = [
        entry("alice", ', team = "search"'),
        entry("bob", ', team = "search"'),
        entry("ops", ", admin = true"),
    ]
    return f"auth_enabled = true\napi_keys = [{', '.join(entries)}]"


def router_body(upstream: FakeUpstream) -> str:
    return f"""default_chain = ["gpt"]
budget_reconcile_interval_s = 0

[[router.providers]]
name = "compatible"
kind = "openai"
base_url = "{upstream.base_url}/v1"

[[router.models]]
name = "gpt"
provider = "compatible"
input_price_per_million = {INPUT_PRICE}
output_price_per_million = {OUTPUT_PRICE}

[[router.budgets]]
id = "alice-daily"
scope = "key"
subject = "alice"
period = "day"
hard_usd = {ALICE_HARD}

[[router.budgets]]
id = "search-monthly"
scope = "team"
subject = "search"
period = "month"
hard_usd = {TEAM_HARD}
"""


@dataclass
class Views:
    """The running stack, its ledger file and an HTTP client per key."""

    stack: Stack
    ledger: Path
    http: dict[str, httpx.AsyncClient]

    def ledger_rows(self) -> dict[tuple[str, str], tuple[int, int, int, float]]:
        """(api key, team) -> (rows, prompt tokens, completion tokens, cost) in the ledger."""
        with sqlite3.connect(self.ledger) as db:
            rows = db.execute(
                "SELECT api_key_id, team_id, COUNT(*), SUM(prompt_tokens), "
                "SUM(completion_tokens), SUM(cost_usd) FROM usage_records "
                "GROUP BY api_key_id, team_id"
            ).fetchall()
        return {(k, t): (n, p, c, cost) for k, t, n, p, c, cost in rows}


@pytest.fixture
async def views(tmp_path: Path) -> AsyncIterator[Views]:
    async with running_upstream() as upstream:
        upstream.set("gpt", Behavior(prompt_tokens=PROMPT, chunks=COMPLETION))
        config = write_config(tmp_path, router_body(upstream), key_entries())
        async with started(config, {}) as stack:
            clients = {
                name: httpx.AsyncClient(
                    base_url=stack.url,
                    headers={"authorization": f"Bearer {key}"},
                    timeout=30,
                )
                for name, key in KEYS.items()
            }
            try:
                await spend(stack)
                views = Views(stack, tmp_path / "metrics.sqlite3", clients)
                await until_shipped(views, ALICE_REQUESTS + BOB_REQUESTS)
                yield views
            finally:
                for client in clients.values():
                    await client.aclose()


async def spend(stack: Stack) -> None:
    """alice: two whole answers and one stream; bob: two whole answers."""
    for name, count in (("alice", ALICE_REQUESTS), ("bob", BOB_REQUESTS)):
        client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEYS[name], max_retries=0)
        for i in range(count):
            messages: Any = [{"role": "user", "content": "hello"}]
            if name == "alice" and i == 2:
                stream = await client.chat.completions.create(
                    model="auto", messages=messages, stream=True
                )
                async for _ in stream:
                    pass
                continue
            answer = await client.chat.completions.create(model="auto", messages=messages)
            assert answer.usage is not None
            assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
                PROMPT,
                COMPLETION,
            )


async def until_shipped(views: Views, requests: int) -> None:
    """Wait until the router's outbox has shipped every request to the ledger."""
    deadline = time.monotonic() + 20
    while True:
        reply = await views.http["ops"].get("/v1/costs")
        if reply.json()["totals"]["requests"] >= requests:
            return
        assert time.monotonic() < deadline, reply.text
        await asyncio.sleep(0.1)


def by_id(budgets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in budgets}


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


def counted(value: float, settles: int) -> Any:
    """A budget counter's figure: it adds each settle in whole nano-USD rounded up
    (router_svc.budgets.counters.nano), so it may exceed the ledger by 1e-9 per settle."""
    return pytest.approx(value + settles * 0.5e-9, rel=0, abs=settles * 0.5e-9 + 1e-12)


async def test_costs_by_key_and_by_team_agree_with_prices_the_ledger_and_the_budgets(
    views: Views,
) -> None:
    ops = views.http["ops"]
    by_key = (await ops.get("/v1/costs?group_by=api_key,team")).json()
    by_team = (await ops.get("/v1/costs?group_by=team")).json()
    admin_budgets = by_id((await ops.get("/v1/admin/budgets")).json()["budgets"])

    alice_cost, bob_cost = ALICE_REQUESTS * PER_REQUEST, BOB_REQUESTS * PER_REQUEST
    rows = {(g["api_key_id"], g["team_id"]): g for g in by_key["groups"]}
    assert set(rows) == {("alice", "search"), ("bob", "search")}
    ledger = views.ledger_rows()
    for (key, team), count, cost in (
        (("alice", "search"), ALICE_REQUESTS, alice_cost),
        (("bob", "search"), BOB_REQUESTS, bob_cost),
    ):
        row = rows[(key, team)]
        assert row["requests"] == count
        assert (row["prompt_tokens"], row["completion_tokens"]) == (
            count * PROMPT,
            count * COMPLETION,
        )
        assert row["total_tokens"] == count * (PROMPT + COMPLETION)
        assert row["cost_usd"] == approx(cost)
        assert ledger[(key, team)] == (count, count * PROMPT, count * COMPLETION, approx(cost))

    # Budgets: the router's counters say what the ledger says, on the rows and in the list.
    assert [b["id"] for b in rows[("alice", "search")]["budgets"]] == [
        "alice-daily",
        "search-monthly",
    ]
    assert [b["id"] for b in rows[("bob", "search")]["budgets"]] == ["search-monthly"]
    alice_daily = by_id(rows[("alice", "search")]["budgets"])["alice-daily"]
    assert alice_daily["spent_usd"] == counted(alice_cost, ALICE_REQUESTS)
    assert ALICE_HARD - alice_daily["remaining_usd"] == counted(alice_cost, ALICE_REQUESTS)
    assert alice_daily["hard_usd"] == ALICE_HARD
    assert alice_daily == admin_budgets["alice-daily"]
    assert by_id(by_key["budgets"]) == admin_budgets

    [search] = by_team["groups"]
    assert search["team_id"] == "search"
    assert search["requests"] == ALICE_REQUESTS + BOB_REQUESTS
    assert search["cost_usd"] == approx(alice_cost + bob_cost)
    [team_rule] = search["budgets"]
    assert team_rule["id"] == "search-monthly"
    both = ALICE_REQUESTS + BOB_REQUESTS
    assert team_rule["spent_usd"] == counted(alice_cost + bob_cost, both)
    assert TEAM_HARD - team_rule["remaining_usd"] == counted(alice_cost + bob_cost, both)
    assert team_rule == admin_budgets["search-monthly"]


async def test_each_key_reads_its_own_usage_and_budgets_without_admin_rights(
    views: Views,
) -> None:
    alice = (await views.http["alice"].get("/v1/usage?group_by=model")).json()
    bob = (await views.http["bob"].get("/v1/usage")).json()

    assert alice["caller"] == {"api_key_id": "alice", "team_id": "search", "admin": False}
    assert alice["totals"]["requests"] == ALICE_REQUESTS
    assert alice["totals"]["cost_usd"] == approx(ALICE_REQUESTS * PER_REQUEST)
    [model] = alice["groups"]
    assert (model["model"], model["total_tokens"]) == (
        "gpt",
        ALICE_REQUESTS * (PROMPT + COMPLETION),
    )
    assert [b["id"] for b in alice["budgets"]] == ["alice-daily", "search-monthly"]
    team = by_id(alice["budgets"])["search-monthly"]
    both = ALICE_REQUESTS + BOB_REQUESTS
    assert TEAM_HARD - team["remaining_usd"] == counted(both * PER_REQUEST, both)

    assert bob["totals"]["requests"] == BOB_REQUESTS
    assert bob["totals"]["cost_usd"] == approx(BOB_REQUESTS * PER_REQUEST)
    assert [b["id"] for b in bob["budgets"]] == ["search-monthly"]
    own = (await views.http["bob"].get("/v1/costs?group_by=api_key")).json()
    # Rows by key carry key rules (bob has none); the report lists his team's too.
    assert [(g["api_key_id"], g["budgets"]) for g in own["groups"]] == [("bob", [])]
    assert [b["id"] for b in own["budgets"]] == ["search-monthly"]

    admin_view = (await views.http["ops"].get("/v1/usage?api_key_id=alice&team_id=search")).json()
    assert admin_view["totals"]["requests"] == ALICE_REQUESTS
    assert [b["id"] for b in admin_view["budgets"]] == ["alice-daily", "search-monthly"]


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/usage?api_key_id=alice", "api_key_id"),
        ("/v1/costs?group_by=api_key&api_key_id=alice", "api_key_id"),
        ("/v1/usage?team_id=research", "team_id"),
        ("/v1/costs?group_by=team&team_id=research", "team_id"),
    ],
)
async def test_a_key_asking_for_another_key_or_team_is_refused_naming_the_param(
    views: Views, path: str, param: str
) -> None:
    refused = await views.http["bob"].get(path)

    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "permission_error",
        "insufficient_permissions",
        param,
    )
    assert (await views.http["bob"].get("/v1/admin/budgets")).status_code == 403


async def cli(views: Views, *args: str, key: str = "") -> tuple[int, str, str]:
    """``llmrouter <args>`` as a user runs it, against the stack's config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env |= {"PYTHONPATH": str(ROOT)} | ({"LLMROUTER_KEY": KEYS[key]} if key else {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmrouter",
        *args,
        "--config",
        str(views.stack.config),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_shows_costs_by_team_and_key_with_budgets_and_a_keys_own_usage(
    views: Views,
) -> None:
    code, out, err = await cli(views, "costs", "--group-by", "api_key,team", "--csv")
    assert code == 0, err
    rows = {r["api_key_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"alice", "bob", "TOTAL"}
    assert rows["alice"]["team_id"] == "search"
    assert int(rows["alice"]["requests"]) == ALICE_REQUESTS
    assert float(rows["alice"]["cost_usd"]) == approx(round(ALICE_REQUESTS * PER_REQUEST, 6))
    cells = rows["alice"]["budgets_remaining_usd"].split("; ")
    both = ALICE_REQUESTS + BOB_REQUESTS
    assert cells == [
        f"alice-daily {ALICE_HARD - ALICE_REQUESTS * PER_REQUEST:.4f}/{ALICE_HARD:.2f} day",
        f"search-monthly {TEAM_HARD - both * PER_REQUEST:.4f}/{TEAM_HARD:.2f} month",
    ]
    assert rows["bob"]["budgets_remaining_usd"].startswith("search-monthly ")

    code, out, err = await cli(views, "costs", "--group-by", "team")
    assert code == 0, err
    header, search, total = out.splitlines()[:3]
    assert header.split()[0] == "team_id"
    assert header.split()[-1] == "budgets_remaining_usd"
    assert total.split()[:2] == ["TOTAL", str(both)]
    assert search.split()[:2] == ["search", str(both)]
    assert search.endswith(f"search-monthly {TEAM_HARD - both * PER_REQUEST:.4f}/5.00 month")

    code, out, err = await cli(views, "usage", key="bob")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("usage of key bob, team search, ")
    assert lines[2].split()[:2] == ["gpt", str(BOB_REQUESTS)]
    assert lines[3].split()[:2] == ["TOTAL", str(BOB_REQUESTS)]
    [budget] = [line for line in lines if line.startswith("search-monthly")]
    assert budget.split()[1:3] == ["team", "search"]
    assert "alice" not in out

    code, out, err = await cli(views, "usage", "--api-key-id", "alice", key="bob")
    assert code == 1
    assert "403" in err
    assert "API key 'alice'" in err
