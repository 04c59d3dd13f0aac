"""The dashboard's Requests tab in a real browser against the real stack: one row per request
(a failover shows its chain and two attempts, linked to its trace), pages of 10 back and forth,
filters, and the CSV export saved by the browser and read back with the csv module."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from tests.fakes import Behavior, FakeUpstream
from tests.integration.conftest import Stack

from .conftest import API_KEY, TRACE_URL, VIEWER_KEY
from .test_dashboard import open_tab, screenshot_path

AUTH = {"authorization": f"Bearer {API_KEY}"}
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hello there"}]}
ADMIN_REQUESTS = 12


async def test_the_requests_tab_lists_pages_filters_and_exports(
    browser: Browser, stack: Stack, upstream: FakeUpstream, tmp_path: Path
) -> None:
    # The first request fails over from alpha to beta; the others are answered by alpha.
    upstream.set("alpha", Behavior(status=503), Behavior())
    sent: list[str] = []
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for _ in range(ADMIN_REQUESTS):
            reply = await http.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert reply.status_code == 200, reply.text
            sent.append(reply.headers["x-request-id"])
            if len(sent) == 1:
                assert reply.headers["x-llmrouter-attempts"] == "2"
                failover_trace = reply.headers["x-llmrouter-trace-id"]
        viewer = await http.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {VIEWER_KEY}"}
        )
        assert viewer.status_code == 200
        deadline = time.monotonic() + 20  # until the router's outbox has shipped every row
        while len((await http.get("/v1/requests", headers=AUTH)).json()["data"]) < 13:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    newest_first = [viewer.headers["x-request-id"], *reversed(sent)]

    context = await browser.new_context(
        viewport={"width": 1360, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#login-key", API_KEY)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    await open_tab(page, "requests")
    rows = page.locator("#requests-table tbody tr")
    await expect(rows).to_have_count(13)

    async def shown() -> list[str]:
        return list(
            await page.eval_on_selector_all(
                "#requests-table tbody tr", "rows => rows.map(r => r.dataset.request)"
            )
        )

    assert await shown() == newest_first
    failover = page.locator(f'#requests-table tr[data-request="{sent[0]}"]')
    await expect(failover.locator("td[data-role=chain]")).to_have_text("alpha → beta")
    assert await failover.get_attribute("data-attempts") == "2"
    assert await failover.get_attribute("data-status") == "succeeded"
    link = failover.locator("a")
    await expect(link).to_have_text("Trace ↗")
    assert await link.get_attribute("href") == TRACE_URL.replace("{trace_id}", failover_trace)
    await page.screenshot(path=screenshot_path(tmp_path, "requests"), full_page=True)

    # Pages of 10: older, then newer again.
    await page.select_option("#requests-limit", "10")
    await expect(rows).to_have_count(10)
    assert await shown() == newest_first[:10]
    await expect(page.locator("#requests-newer")).to_be_disabled()
    await page.click("#requests-older")
    await expect(rows).to_have_count(3)
    assert await shown() == newest_first[10:]
    await expect(page.locator("#requests-older")).to_be_disabled()
    await page.click("#requests-newer")
    await expect(rows).to_have_count(10)
    assert await shown() == newest_first[:10]

    # Filters: a model anywhere in the chain, a status nobody has, a key.
    await page.fill("#requests-model", "beta")
    await page.click("#requests-filter button[type=submit]")
    await expect(rows).to_have_count(1)
    assert await shown() == [sent[0]]
    await page.fill("#requests-model", "")
    await page.select_option("#requests-status", "failed")
    await page.click("#requests-filter button[type=submit]")
    await expect(rows.locator("td.empty")).to_have_text("No requests match.")
    await page.select_option("#requests-status", "")
    await page.fill("#requests-key", "viewer")
    await page.click("#requests-filter button[type=submit]")
    # One row, the viewer's: the previous filter's "No requests match." is one row too.
    await expect(rows.first).to_have_attribute("data-request", newest_first[0])
    await expect(rows).to_have_count(1)

    # The export holds the filtered list, saved by the browser with the key sent along.
    async with page.expect_download() as waiting:
        await page.click("#requests-csv")
    download = await waiting.value
    assert download.suggested_filename.startswith("llmrouter-requests-")
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    with saved.open(newline="") as file:
        exported = list(csv.DictReader(file))
    assert [(r["request_id"], r["api_key_id"]) for r in exported] == [(newest_first[0], "viewer")]

    assert errors == []
    await context.close()
