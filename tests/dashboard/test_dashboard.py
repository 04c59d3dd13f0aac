"""The dashboard in a real browser against the real stack: traffic with fallbacks, the figures
and charts it shows, and a model switched off in Settings that the router then skips.

``LLMROUTER_SCREENSHOTS=docs`` also writes the three pages to docs/dashboard-*.png (``make
screenshots``); otherwise they go to the test's temporary folder, so a test run leaves the
work tree alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.fakes import Behavior, FakeUpstream
from tests.integration.conftest import Stack

from .conftest import API_KEY, PRICES, REPO, TRACE_URL, VIEWER_KEY

AUTH = {"authorization": f"Bearer {API_KEY}"}
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hello there"}]}
REQUESTS = 8


@dataclass
class Traffic:
    """What the test saw in the responses it got, to compare with what the page shows."""

    attempts: int = 0
    tokens: int = 0
    cost: float = 0.0
    # Attempts per model (every request starts with alpha).
    by_model: dict[str, int] = field(default_factory=dict)
    # Trace ids of requests that fell back.
    fallback_traces: set[str] = field(default_factory=set)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def fallbacks(self) -> int:
        """Attempts after the first of their request (the ledger's fallback flag)."""
        return self.attempts - REQUESTS


async def send_traffic(stack: Stack, upstream: FakeUpstream) -> Traffic:
    """REQUESTS chats: alpha fails three times (beta serves two, fails one for gamma)."""
    upstream.set(
        "alpha", *(Behavior(status=503) if i in (0, 2, 4) else Behavior() for i in range(6))
    )
    upstream.set("beta", Behavior(), Behavior(status=503), Behavior())
    traffic = Traffic()
    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=30) as http:
        for _ in range(REQUESTS):
            reply = await http.post("/v1/chat/completions", json=CHAT)
            assert reply.status_code == 200, reply.text
            usage = reply.json()["usage"]
            model = reply.headers["x-llmrouter-model"]
            attempts = int(reply.headers["x-llmrouter-attempts"])
            inp, out = PRICES[model]
            traffic.attempts += attempts
            traffic.tokens += usage["total_tokens"]
            traffic.cost += (usage["prompt_tokens"] * inp + usage["completion_tokens"] * out) / 1e6
            chain = ["alpha", "beta", "gamma"][:attempts]
            for tried in [*chain[:-1], model]:
                traffic.by_model[tried] = traffic.by_model.get(tried, 0) + 1
            if attempts > 1:
                traffic.fallback_traces.add(reply.headers["x-llmrouter-trace-id"])
        # Usage reaches the ledger off the request path: wait until every attempt is there.
        deadline = time.monotonic() + 20
        while True:
            costs = (await http.get("/v1/costs")).json()
            if costs["totals"]["requests"] == traffic.attempts:
                break
            assert time.monotonic() < deadline, costs["totals"]
            await asyncio.sleep(0.1)
    assert traffic.by_model == {"alpha": 8, "beta": 3, "gamma": 1}
    return traffic


def screenshot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("LLMROUTER_SCREENSHOTS") == "docs":
        return REPO / "docs" / f"dashboard-{name}.png"
    return tmp_path / f"dashboard-{name}.png"


async def figure(page: Page, element_id: str) -> float:
    """The raw number behind a figure on the page (its data-value)."""
    value = await page.get_attribute(f"#{element_id}", "data-value")
    assert value not in (None, ""), element_id
    return float(value)


async def chart(page: Page, canvas_id: str) -> dict[str, Any]:
    """A chart's labels and data, and how many of its canvas pixels are painted."""
    return dict(
        await page.evaluate(
            """(id) => {
                const canvas = document.getElementById(id);
                const chart = Chart.getChart(canvas);
                const pixels = canvas.getContext("2d")
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let painted = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
                return {labels: chart.data.labels, data: chart.data.datasets[0].data, painted};
            }""",
            canvas_id,
        )
    )


async def open_tab(page: Page, name: str) -> None:
    await page.click(f"#tab-{name}")
    await expect(page.locator(f"#page-{name}")).to_be_visible()


async def test_dashboard_shows_the_traffic_and_switches_a_model_off(
    browser: Browser, stack: Stack, upstream: FakeUpstream, tmp_path: Path
) -> None:
    traffic = await send_traffic(stack, upstream)
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failed: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: (
            failed.append((r.status, r.url.removeprefix(stack.url))) if r.status >= 400 else None
        ),
    )

    # The shell is served without a key and holds no data; the key is asked for once.
    shell = await page.goto(f"{stack.url}/dashboard")
    assert shell is not None
    assert shell.status == 200
    html = await shell.text()
    assert "alpha" not in html
    assert "beta" not in html
    assert "default-src 'none'" in shell.headers["content-security-policy"]
    await expect(page.locator("#login")).to_be_visible()
    await page.fill("#login-key", "sk-wrong")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("This API key was not accepted.")
    await page.fill("#login-key", API_KEY)
    started = time.perf_counter()
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    print(f"dashboard rendered {time.perf_counter() - started:.3f} s after sign-in")

    # Status: services, model health, availability, today's fallbacks and this hour's tokens.
    for service in ("gateway", "router", "metrics"):
        assert await page.get_attribute(f"#service-{service}", "data-up") == "true"
    rows = page.locator("#status-models tbody tr")
    await expect(rows).to_have_count(3)
    alpha = page.locator('#status-models tr[data-model="alpha"]')
    await expect(alpha.locator("td").nth(2)).to_have_text("enabled")
    await expect(alpha.locator("td").nth(3)).to_have_text("closed")
    await expect(alpha.locator("td").nth(4)).to_have_text("62.5%")  # 5 of 8 attempts served
    categories = await page.locator("#status-categories tbody tr").count()
    assert categories >= 1
    assert await figure(page, "kpi-availability") == categories
    now = dt.datetime.now(dt.UTC)
    if now.date() == traffic.started.date():
        assert await figure(page, "kpi-fallbacks-today") == traffic.fallbacks
    assert await figure(page, "kpi-fallbacks-week") == traffic.fallbacks
    if now.replace(minute=0, second=0, microsecond=0) <= traffic.started:
        assert await figure(page, "kpi-tokens-hour") == traffic.tokens
    await page.screenshot(path=screenshot_path(tmp_path, "status"), full_page=True)

    # Analytics: totals, the three charts, the per-model table, fallbacks linked to traces.
    await open_tab(page, "analytics")
    assert await figure(page, "kpi-requests") == traffic.attempts
    assert await figure(page, "kpi-tokens") == traffic.tokens
    assert await figure(page, "kpi-cost") == pytest.approx(traffic.cost, rel=1e-9)
    assert await figure(page, "kpi-fallback-rate") == pytest.approx(
        traffic.fallbacks / traffic.attempts
    )
    hourly = await chart(page, "chart-hourly")
    assert len(hourly["data"]) == 24
    assert sum(hourly["data"]) == traffic.tokens
    assert hourly["painted"] > 0
    models = await chart(page, "chart-models")
    assert dict(zip(models["labels"], models["data"], strict=True)) == traffic.by_model
    assert models["painted"] > 0
    daily = await chart(page, "chart-daily")
    assert len(daily["data"]) == 14
    assert sum(daily["data"]) == pytest.approx(traffic.cost, rel=1e-9)
    assert daily["painted"] > 0
    table = {
        row["model"]: row
        for row in await page.eval_on_selector_all(
            "#analytics-models tbody tr", "rows => rows.map(r => ({...r.dataset}))"
        )
    }
    assert {name: int(row["requests"]) for name, row in table.items()} == traffic.by_model
    assert sum(int(row["tokens"]) for row in table.values()) == traffic.tokens
    links = await page.eval_on_selector_all(
        "#analytics-events a", "links => links.map(a => [a.getAttribute('href'), a.textContent])"
    )
    assert len(links) == traffic.fallbacks
    assert {href for href, _ in links} == {
        TRACE_URL.replace("{trace_id}", t) for t in traffic.fallback_traces
    }
    assert {text for _, text in links} == {"Trace ↗"}
    await page.screenshot(path=screenshot_path(tmp_path, "analytics"), full_page=True)

    # Settings: the router's validation error is shown at the field it names.
    await open_tab(page, "settings")
    await page.fill("#new-name", "translation")
    await page.fill("#new-chain", "beta, no-such-model")
    await page.click("#category-new button[type=submit]")
    error = page.locator("#category-new [data-role=error]")
    await expect(error).to_contain_text("chain[1]")
    await expect(error).to_contain_text("no-such-model")
    await expect(page.locator("#new-chain")).to_have_attribute("aria-invalid", "true")

    # ... and a model switched off there is skipped by the router.
    # click(), not uncheck(): the change redraws the row, which uncheck() would re-read.
    toggle = page.locator('#settings-models tr[data-model="alpha"] input[type=checkbox]')
    await expect(toggle).to_be_checked()
    await toggle.click()
    await expect(page.locator("#settings-message")).to_have_text("alpha disabled.")
    await expect(alpha.locator("td").nth(2)).to_have_text("disabled")
    await expect(toggle).not_to_be_checked()
    # The switch is now a runtime value, and the audit log says who made it.
    source = page.locator('#settings-models tr[data-model="alpha"] td[data-role=source]')
    await expect(source).to_have_text("runtime")
    await expect(
        page.locator('#settings-models tr[data-model="beta"] td[data-role=source]')
    ).to_have_text("config")
    first = page.locator("#settings-audit tbody tr").first
    await expect(first.locator("td").nth(2)).to_have_text("set_model_enabled")
    await expect(first.locator("td").nth(3)).to_have_text("model:alpha")
    await expect(first.locator("td").nth(1)).to_contain_text("(key ")
    await expect(first.locator("td").nth(5)).to_have_text('{"alpha":false}')
    # No key's traffic crossed an alert threshold (20 requests at 50 % errors by default).
    await expect(page.locator("#settings-alerts tbody")).to_have_text("No alert has fired.")
    await page.screenshot(path=screenshot_path(tmp_path, "settings"), full_page=True)

    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=30) as http:
        listed = (await http.get("/v1/admin/models")).json()["models"]
        assert {m["model"]: m["enabled"] for m in listed} == {
            "alpha": False,
            "beta": True,
            "gamma": True,
        }
        decision = (await http.post("/v1/route", json=CHAT)).json()
        assert decision["candidates"][0]["model"] == "beta"
        assert {"model": "alpha", "reason": "disabled"}.items() <= next(
            s for s in decision["skipped"] if s["model"] == "alpha"
        ).items()
        calls = upstream.calls("alpha")
        reply = await http.post("/v1/chat/completions", json=CHAT)
        assert reply.status_code == 200
        assert reply.headers["x-llmrouter-model"] == "beta"
        assert upstream.calls("alpha") == calls

    for name in ("status", "analytics", "settings"):
        assert screenshot_path(tmp_path, name).stat().st_size > 10_000
    assert errors == []
    # Only the two mistakes made on purpose failed: no missing asset, no server error.
    assert failed == [(401, "/v1/dashboard/summary?since=24h"), (400, "/v1/admin/categories")]
    await context.close()


async def test_a_key_that_is_not_admin_sees_its_own_usage_and_no_settings(
    browser: Browser, stack: Stack, upstream: FakeUpstream
) -> None:
    await send_traffic(stack, upstream)  # with the admin key: none of it is the viewer's
    async with httpx.AsyncClient(
        base_url=stack.url, headers={"authorization": f"Bearer {VIEWER_KEY}"}, timeout=30
    ) as http:
        assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200
        for _ in range(100):  # until the router's outbox has shipped it
            if (await http.get("/v1/costs")).json()["totals"]["requests"]:
                break
            await asyncio.sleep(0.1)
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#login-key", VIEWER_KEY)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    summary = await page.evaluate(
        """async (key) => (await fetch("v1/dashboard/summary",
            {headers: {authorization: `Bearer ${key}`}})).json()""",
        VIEWER_KEY,
    )
    assert summary["caller"] == {"api_key_id": "viewer", "admin": False}
    assert summary["totals"]["requests"] == 1

    await open_tab(page, "settings")
    await expect(page.locator("#settings-admin")).to_be_visible()
    await expect(page.locator("#settings-admin")).to_contain_text("admin API key")
    await expect(page.locator("#settings-models input").first).to_be_disabled()
    await expect(page.locator("#category-new button[type=submit]")).to_be_disabled()
    await context.close()


async def test_the_analytics_page_shows_what_the_response_cache_saved(
    browser: Browser, stack: Stack, upstream: FakeUpstream
) -> None:
    # The same request twice, asking for the cache: the second is a hit, billed $0.
    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=30) as http:
        replies = [
            await http.post("/v1/chat/completions", json=CHAT, headers={"x-llmrouter-cache": "on"})
            for _ in range(2)
        ]
        assert [r.headers["x-llmrouter-cache"] for r in replies] == ["miss", "hit"]
        usage = replies[0].json()["usage"]
        inp, out = PRICES[replies[0].headers["x-llmrouter-model"]]
        cost = (usage["prompt_tokens"] * inp + usage["completion_tokens"] * out) / 1e6
        assert cost > 0
        deadline = time.monotonic() + 20  # until the router's outbox has shipped both rows
        while (await http.get("/v1/costs")).json()["totals"]["requests"] < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        totals = (await http.get("/v1/dashboard/summary")).json()["totals"]
    assert totals["cache_hits"] == 1
    assert totals["cache_saved_usd"] == pytest.approx(cost, rel=1e-9)
    assert totals["cost_usd"] == pytest.approx(cost, rel=1e-9)  # paid once
    assert upstream.calls("alpha") == 1

    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#login-key", API_KEY)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    await open_tab(page, "analytics")
    assert await figure(page, "kpi-cache-saved") == pytest.approx(cost, rel=1e-9)
    await expect(page.locator("#kpi-cache-saved")).to_have_text(f"${cost:.6f}")
    await expect(page.locator("#kpi-cache-hint")).to_have_text("1 hit")
    assert errors == []
    await context.close()
