"""The Analytics page's keys and teams tables in a real browser against the real stack: per key
and per team, the requests, tokens and cost the prices give, and each budget's remaining USD as
a meter; a key that is not an admin key sees only its own row (with its team's budget) and no
teams table."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.fakes import Behavior, FakeUpstream
from tests.integration.conftest import Stack, started, write_config

from .conftest import PRICES, router_config
from .test_dashboard import open_tab, screenshot_path

KEYS = {"ops": "sk-keys-ops-0123456789", "alice": "sk-keys-alice-0123456789"}
# alice is in team search with a key budget; carol (no dashboard login) is in search too.
CAROL = "sk-keys-carol-0123456789"
PROMPT, COMPLETION = 1000, 5
ALICE_HARD, TEAM_HARD = 0.5, 2.0
CHAT = {"model": "alpha", "messages": [{"role": "user", "content": "hello"}]}


def per_request() -> float:
    """alpha's price for one answer: 1,000 prompt tokens and 5 completion tokens."""
    inp, out = PRICES["alpha"]
    return (PROMPT * inp + COMPLETION * out) / 1e6


def keys_config() -> str:
    def entry(key_id: str, secret: str, extra: str) -> str:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return f'{{ id = "{key_id}", sha256 = "{digest}"{extra} }}'

    entries = [
        entry("ops", KEYS["ops"], ", admin = true"),
        entry("alice", KEYS["alice"], ', team = "search"'),
        entry("carol", CAROL, ', team = "search"'),
    ]
    return f"auth_enabled = true\napi_keys = [{', '.join(entries)}]"


def budgets_config() -> str:
    return f"""
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


@pytest.fixture
async def budgeted(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[Stack]:
    upstream.set("alpha", Behavior(prompt_tokens=PROMPT, chunks=COMPLETION))
    config = write_config(tmp_path, router_config(upstream) + budgets_config(), keys_config())
    async with started(config, {}) as running:
        yield running


async def spend(stack: Stack) -> None:
    """alice 3 requests, carol 2, ops 1; then wait until the ledger has all 6."""
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for secret, count in ((KEYS["alice"], 3), (CAROL, 2), (KEYS["ops"], 1)):
            for _ in range(count):
                reply = await http.post(
                    "/v1/chat/completions",
                    json=CHAT,
                    headers={"authorization": f"Bearer {secret}"},
                )
                assert reply.status_code == 200, reply.text
        deadline = time.monotonic() + 20
        ops = {"authorization": f"Bearer {KEYS['ops']}"}
        while (await http.get("/v1/costs", headers=ops)).json()["totals"]["requests"] < 6:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)


async def signed_in(browser: Browser, stack: Stack, key: str) -> tuple[Page, list[str]]:
    page = await (await browser.new_context(viewport={"width": 1360, "height": 900})).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#login-key", key)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    await open_tab(page, "analytics")
    return page, errors


async def rows(page: Page, table: str) -> list[dict[str, str]]:
    return list(
        await page.eval_on_selector_all(
            f"#{table} tbody tr", "rows => rows.map(r => ({...r.dataset}))"
        )
    )


async def meter(page: Page, selector: str) -> tuple[float, float]:
    """(value, max) of a budget's meter: USD left and the hard limit."""
    found = page.locator(f"{selector} meter")
    return float(await found.get_attribute("value") or "nan"), float(
        await found.get_attribute("max") or "nan"
    )


async def test_the_keys_and_teams_tables_show_spend_and_remaining_budgets(
    browser: Browser, budgeted: Stack, tmp_path: Path
) -> None:
    await spend(budgeted)
    cost = per_request()

    page, errors = await signed_in(browser, budgeted, KEYS["ops"])
    await expect(page.locator("#analytics-keys tbody tr")).to_have_count(3)
    shown = {r["key"]: r for r in await rows(page, "analytics-keys")}
    assert set(shown) == {"alice", "carol", "ops"}
    for key, count in (("alice", 3), ("carol", 2), ("ops", 1)):
        assert int(shown[key]["requests"]) == count
        assert int(shown[key]["tokens"]) == count * (PROMPT + COMPLETION)
        assert float(shown[key]["cost"]) == pytest.approx(count * cost)
    assert (shown["alice"]["team"], shown["ops"].get("team", "")) == ("search", "")
    alice = '#analytics-keys tr[data-key="alice"]'
    assert await page.locator(f"{alice} .budget").evaluate_all(
        "els => els.map(e => e.dataset.budget)"
    ) == ["alice-daily", "search-monthly"]
    left, hard = await meter(page, f'{alice} [data-budget="alice-daily"]')
    assert hard == ALICE_HARD
    assert left == pytest.approx(ALICE_HARD - 3 * cost, abs=1e-8)
    await expect(page.locator(f'{alice} [data-budget="alice-daily"] span')).to_have_text(
        f"alice-daily ${ALICE_HARD - 3 * cost:.4f} of ${ALICE_HARD:.4f} left \u00b7 day"
    )
    # ops has no rule: a dash.
    await expect(page.locator('#analytics-keys tr[data-key="ops"] td.budgets')).to_have_text(
        "\u2013"
    )

    await expect(page.locator("#analytics-teams")).to_be_visible()
    teams = {r.get("team", ""): r for r in await rows(page, "analytics-teams")}
    assert set(teams) == {"search", ""}
    assert int(teams["search"]["requests"]) == 5
    assert float(teams["search"]["cost"]) == pytest.approx(5 * cost)
    left, hard = await meter(page, '#analytics-teams tr[data-team="search"] .budget')
    assert (hard, left) == (TEAM_HARD, pytest.approx(TEAM_HARD - 5 * cost, abs=1e-8))
    await page.screenshot(path=screenshot_path(tmp_path, "keys"), full_page=True)
    assert errors == []

    # alice, not an admin: her own row alone, with her key's and her team's budgets.
    page, errors = await signed_in(browser, budgeted, KEYS["alice"])
    await expect(page.locator("#analytics-keys tbody tr")).to_have_count(1)
    [own] = await rows(page, "analytics-keys")
    assert (own["key"], int(own["requests"])) == ("alice", 3)
    left, _ = await meter(page, '#analytics-keys [data-budget="search-monthly"]')
    assert left == pytest.approx(TEAM_HARD - 5 * cost, abs=1e-8)
    await expect(page.locator("#analytics-teams")).to_be_hidden()
    assert errors == []
