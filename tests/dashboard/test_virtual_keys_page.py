"""The Settings page's virtual keys in a real browser against the real stack: an admin creates a
team and a key there, reads the secret from its shown-once box, and the official ``openai`` SDK
uses it; rotated through the page the new secret works (the old one during its overlap);
revoked through the page the secret is refused within a second. After "Done" the secret is
nowhere in the page or the tab's storage; an API error shows beside the form naming the field;
a key that is not an admin key sees nothing of the section."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from playwright.async_api import Browser, Dialog, Page, expect

from tests.integration.conftest import Stack

from .conftest import API_KEY, VIEWER_KEY
from .test_dashboard import open_tab, screenshot_path

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


async def settings(browser: Browser, stack: Stack, key: str) -> tuple[Page, list[str]]:
    # Berlin: the expiry field is the browser's local time, sent as UTC.
    context = await browser.new_context(
        viewport={"width": 1600, "height": 1000}, timezone_id="Europe/Berlin"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#login-key", key)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]")
    await open_tab(page, "settings")
    return page, errors


def client(stack: Stack, secret: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=secret, max_retries=0)


async def chat(stack: Stack, secret: str) -> str:
    async with client(stack, secret) as sdk:
        reply = await sdk.chat.completions.create(model="alpha", messages=HELLO)
    return reply.model


async def read_secret(page: Page) -> str:
    box = page.locator("#key-secret")
    await expect(box).to_be_visible()
    await expect(box).to_contain_text("Shown once")
    secret = await page.locator("#key-secret-value").input_value()
    assert secret.startswith("sk-llmr-")
    return secret


async def dismiss(page: Page, secret: str) -> None:
    """Done: the box hides and the secret is in no element, attribute, value or storage."""
    await page.click("#key-secret-done")
    await expect(page.locator("#key-secret")).to_be_hidden()
    assert secret not in await page.content()
    values = await page.eval_on_selector_all("input", "els => els.map(e => e.value)")
    assert secret not in values
    storage = await page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert secret not in storage


async def test_an_admin_manages_keys_and_teams_on_the_settings_page(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    page, errors = await settings(browser, stack, API_KEY)
    section = page.locator("#settings-keys-section")
    await expect(section).to_be_visible()
    await expect(page.locator("#settings-keys tbody td.empty")).to_have_text("No virtual key yet.")

    # A team with a budget.
    await page.fill("#team-new-name", "search")
    await page.select_option("#team-new-period", "month")
    await page.fill("#team-new-hard", "25")
    await page.click("#team-new button[type=submit]")
    team_row = page.locator("#settings-teams tbody tr[data-team]")
    await expect(team_row).to_have_count(1)
    await expect(team_row).to_contain_text("search")
    await expect(team_row).to_contain_text("month: hard $25.00")
    team_id = await team_row.get_attribute("data-team")
    assert team_id
    assert team_id.startswith("team_")

    # The router's refusal shows beside the form, naming the field.
    await page.fill("#key-new-name", "ci")
    await page.fill("#key-new-rpm", "0")
    await page.click("#key-new button[type=submit]")
    await expect(page.locator("#key-new [data-role=error]")).to_contain_text("rpm_limit")
    await expect(page.locator("#key-new-rpm")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#key-secret")).to_be_hidden()

    # The key: in the team, alpha only, limits, a budget.
    await page.fill("#key-new-rpm", "600")
    await page.fill("#key-new-tpm", "100000")
    await page.select_option("#key-new-team", team_id)
    await page.fill("#key-new-models", "alpha")
    await page.select_option("#key-new-period", "day")
    await page.fill("#key-new-soft", "1")
    await page.fill("#key-new-hard", "2")
    await page.fill("#key-new-expire", "2030-01-01T00:00")
    await page.click("#key-new button[type=submit]")
    secret = await read_secret(page)
    await expect(page.locator("#key-new [data-role=error]")).to_have_text("")
    row = page.locator("#settings-keys tbody tr[data-key]")
    await expect(row).to_have_count(1)
    key_id = await row.get_attribute("data-key")
    assert key_id
    assert key_id.startswith("vk_")
    cells = await row.locator("td").all_inner_texts()
    assert cells[:8] == ["ci", key_id, "search", "user", "alpha", "600", "100,000",
                         "day: soft $1.00, hard $2.00"]  # fmt: skip
    assert cells[9:11] == ["2029-12-31 23:00:00", "active"]
    await page.screenshot(path=screenshot_path(tmp_path, "virtual-keys"), full_page=True)

    # The secret works with the official SDK; a model it may not use is refused.
    assert await chat(stack, secret) == "alpha"
    async with client(stack, secret) as sdk:
        with pytest.raises(openai.PermissionDeniedError):
            await sdk.chat.completions.create(model="beta", messages=HELLO)
    await dismiss(page, secret)

    # Rotate with a 60-second overlap: the new secret works, the old one still does.
    await row.locator("input[name=overlap_seconds]").fill("60")
    await row.locator("[data-action=rotate]").click()
    rotated = await read_secret(page)
    assert rotated != secret
    await expect(row).to_have_attribute("data-state", "rotating")
    assert await chat(stack, rotated) == "alpha"
    assert await chat(stack, secret) == "alpha"
    await dismiss(page, rotated)

    # Revoke (after the confirm): both secrets refused within a second.
    dialogs: list[str] = []

    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await row.locator("[data-action=revoke]").click()
    await expect(row).to_have_attribute("data-state", "revoked")
    revoked_at = time.monotonic()
    assert dialogs
    assert key_id in dialogs[0]
    for old in (rotated, secret):
        while True:
            try:
                await chat(stack, old)
            except openai.AuthenticationError:
                break
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second after revoke"
            await asyncio.sleep(0.05)
    await expect(row.locator("[data-action]")).to_have_count(0)
    # Each change is in the audit log below, without a secret.
    audit = page.locator("#settings-audit")
    for action in ("create_team", "create_api_key", "rotate_api_key", "revoke_api_key"):
        await expect(audit).to_contain_text(action)
    page_text = await page.content()
    assert secret not in page_text
    assert rotated not in page_text
    assert errors == []


async def created(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    """POST ``body``; a 503 right after the stack starts (the gateway's channel to the router
    still connecting) is retried for up to 10 s."""
    deadline = time.monotonic() + 10
    while (made := await http.post(path, json=body)).status_code == 503:
        assert time.monotonic() < deadline, made.text
        await asyncio.sleep(0.1)
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_key_that_is_not_admin_sees_nothing_of_the_keys(
    browser: Browser, stack: Stack
) -> None:
    admin = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=admin) as http:
        team = await created(http, "/v1/admin/teams", {"name": "search"})
        await created(http, "/v1/admin/keys", {"name": "ci", "team_id": team["id"]})

    # An admin creates a key and signs out with its secret still shown.
    page, errors = await settings(browser, stack, API_KEY)
    await expect(page.locator("#settings-keys tbody tr[data-key]")).to_have_count(1)
    await page.fill("#key-new-name", "deploy")
    await page.click("#key-new button[type=submit]")
    secret = await read_secret(page)
    await page.click("#signout")
    await expect(page.locator("#login")).to_be_visible()
    assert secret not in await page.content()

    # The viewer, in the same tab: no section, no rows, no requests for them.
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    await page.fill("#login-key", VIEWER_KEY)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")
    await open_tab(page, "settings")
    await expect(page.locator("#settings-admin")).to_be_visible()
    await expect(page.locator("#settings-keys-section")).to_be_hidden()
    assert await page.locator("#settings-keys tbody tr[data-key]").count() == 0
    assert await page.locator("#settings-teams tbody tr[data-team]").count() == 0
    assert await page.locator("#key-new-team option").count() == 1
    assert "search" not in await page.locator("#page-settings").inner_text()
    assert secret not in await page.content()
    assert asked
    assert not [url for url in asked if "/v1/admin/keys" in url or "/v1/admin/teams" in url]
    assert errors == []
