"""A real stack (metrics, router, gateway as processes) behind a fake upstream, and headless
Chromium driven by Playwright: Debian's /usr/bin/chromium, never a downloaded browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.fakes import FakeUpstream, running_upstream
from tests.fakes.otlp import running_receiver
from tests.integration.conftest import Stack, started, write_config

REPO = Path(__file__).resolve().parents[2]
# The operator's key (admin) and a key that may only look at its own usage.
API_KEY = "sk-dashboard-test-0123456789"
VIEWER_KEY = "sk-dashboard-viewer-0123456789"
# The trace viewer the dashboard links to (Phoenix's URL shape, its default project).
TRACE_URL = "http://phoenix.example:6006/projects/UHJvamVjdDox/traces/{trace_id}"
# Prices per million tokens (input, output) of the fake provider's models.
PRICES = {"alpha": (1.0, 2.0), "beta": (3.0, 6.0), "gamma": (0.5, 1.0)}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Debian's chromium, if installed (``make test`` installs it when run as root)."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def router_config(upstream: FakeUpstream) -> str:
    """Three priced models of one OpenAI-compatible fake; failures fail over at once and
    never open a breaker (so every failure shows as a fallback)."""
    models = "".join(
        f'[[router.models]]\nname = "{name}"\nprovider = "fake"\n'
        f"input_price_per_million = {inp}\noutput_price_per_million = {out}\n"
        for name, (inp, out) in PRICES.items()
    )
    return f"""default_chain = ["alpha", "beta", "gamma"]
[router.retry]
attempts_per_model = 1
[router.breaker]
consecutive_failures = 1000
min_calls = 100000
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{upstream.base_url}/v1"
{models}"""


@pytest.fixture
def browser_path() -> str:
    """The chromium binary; the test is skipped (with the reason) only when there is none."""
    path = chromium_path()
    if path is None:
        pytest.skip("chromium not found: apt-get install chromium (make test does it as root)")
    return path


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as fake:
        yield fake


@pytest.fixture
async def stack(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[Stack]:
    """The stack with API keys on and tracing to a receiver, so usage carries trace ids."""
    async with running_receiver() as receiver:
        config = write_config(
            tmp_path, router_config(upstream), gateway_extra=f'trace_url = "{TRACE_URL}"'
        )
        env = {
            "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"dashboard:{API_KEY}",
            "LLMROUTER_GATEWAY_API_KEYS": f"viewer:{VIEWER_KEY}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        async with started(config, env) as running:
            yield running


@pytest.fixture
async def browser(browser_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=browser_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()
