"""The Quality page in a real browser against the real stack: after users' feedback, each
model x category row shows the prior, the scores, the estimate the Beta posterior gives and
whether scoring uses it; a key that is not an admin key is told it needs one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.integration.conftest import Stack, started, write_config

from .test_dashboard import open_tab, screenshot_path

ADMIN, VIEWER = "sk-quality-ops-0123456789", "sk-quality-viewer-0123456789"
QUALITY = "\n[router.quality]\nprior_weight = 4\nmin_samples = 6\nrefresh_s = 0.1\n"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    # The simulated sim-small (quality 0.3) and sim-large (0.6).
    config = write_config(tmp_path, QUALITY, gateway_extra="auth_enabled = true")
    env = {
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN}",
        "LLMROUTER_GATEWAY_API_KEYS": f"viewer:{VIEWER}",
    }
    async with started(config, env) as running:
        yield running


async def give_feedback(stack: Stack) -> None:
    """sim-large in code: 7 thumbs down; sim-small in code: 2 thumbs up (too few to use)."""
    async with httpx.AsyncClient(
        base_url=stack.url, headers={"authorization": f"Bearer {VIEWER}"}, timeout=10
    ) as http:
        for model, count, up in (("sim-large", 7, False), ("sim-small", 2, True)):
            for i in range(count):
                reply = await http.post(
                    "/v1/chat/completions",
                    json={
                        "model": model,
                        "messages": [{"role": "user", "content": f"q{i}"}],
                        "llmrouter": {"category": "code"},
                    },
                )
                assert reply.status_code == 200, reply.text
                scored = await http.post(
                    "/v1/feedback", json={"id": reply.json()["id"], "score": up}
                )
                assert scored.status_code == 200, scored.text
        deadline = time.monotonic() + 10
        ops = {"authorization": f"Bearer {ADMIN}"}
        while len((await http.get("/v1/admin/quality", headers=ops)).json()["estimates"]) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


async def sign_in(browser: Browser, stack: Stack, key: str) -> tuple[Page, list[str]]:
    page = await (await browser.new_context(viewport={"width": 1360, "height": 900})).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#login-key", key)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    await open_tab(page, "quality")
    return page, errors


async def test_the_quality_page_shows_each_estimate(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    await give_feedback(stack)
    page, errors = await sign_in(browser, stack, ADMIN)
    rows = page.locator("#quality-table tbody tr")
    await expect(rows).to_have_count(2)
    large = page.locator('#quality-table tr[data-model="sim-large"]')
    # Beta posterior: alpha = 0.6 * 4 = 2.4, beta = 0.4 * 4 + 7 = 8.6.
    assert float(await large.get_attribute("data-estimate") or "nan") == pytest.approx(2.4 / 11)
    assert await large.get_attribute("data-samples") == "7"
    assert await large.get_attribute("data-in-use") == "true"
    cells = await large.locator("td").all_inner_texts()
    assert cells[:3] == ["sim-large", "code", "0.60"]
    assert cells[5] == f"{2.4 / 11:.2f}"
    assert cells[8] == "estimate"
    small = page.locator('#quality-table tr[data-model="sim-small"]')
    assert await small.get_attribute("data-in-use") == "false"
    assert (await small.locator("td").all_inner_texts())[8] == "prior"
    # The interval bar is drawn (CSSOM widths: the page's CSP allows no style attributes).
    width = await large.locator(".interval .range").evaluate(
        "el => el.getBoundingClientRect().width"
    )
    assert width > 0
    await expect(page.locator("#quality-min-samples")).to_contain_text("weigh 6")
    await page.screenshot(path=str(screenshot_path(tmp_path, "quality")), full_page=True)
    assert errors == []


async def test_a_key_that_is_not_an_admin_key_is_told_so(browser: Browser, stack: Stack) -> None:
    page, errors = await sign_in(browser, stack, VIEWER)
    await expect(page.locator("#quality-error")).to_have_text(
        "The quality estimates need an admin key."
    )
    assert errors == []
