"""Saving a category in the dashboard's Settings keeps its quality bound (README "Learned
routing"): the page edits the chain and keywords only, and an update sets the bound as given."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.integration.conftest import Stack

from .conftest import API_KEY
from .test_dashboard import open_tab

AUTH = {"authorization": f"Bearer {API_KEY}"}


async def test_saving_a_category_keeps_its_quality_bound(browser: Browser, stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=30) as http:
        bounded = await http.put(
            "/v1/admin/categories/code", json={"chain": ["alpha", "beta"], "min_quality": 0.7}
        )
        assert bounded.status_code == 200, bounded.text
        context = await browser.new_context(viewport={"width": 1360, "height": 900})
        page = await context.new_page()
        await page.goto(f"{stack.url}/dashboard")
        await page.fill("#login-key", API_KEY)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("body[data-state=ready]")
        await open_tab(page, "settings")
        form = page.locator('form.category[data-category="code"]')
        await form.locator("input[name=keywords]").fill("python, refactor")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#settings-message")).to_have_text("Category code saved.")
        await context.close()
        listed = (await http.get("/v1/admin/categories")).json()["categories"]

    (code,) = [c for c in listed if c["name"] == "code"]
    assert code["keywords"] == ["python", "refactor"]
    assert code["min_quality"] == 0.7
