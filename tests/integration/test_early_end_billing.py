"""Attempts that end early keep their tokens (issue 16, input 4): the official ``openai``
package, through the real gateway, router and metrics processes, to an Anthropic-kind model
whose fake upstream reports its input tokens in ``message_start`` (Messages API reference,
"Streaming Messages"); and `llmrouter costs` shows them as their own column beside a model with
no known price, which the router named at start (issue 16, "Billing"). One stack; the
scenarios run one after another on it."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import Behavior, FakeUpstream

from .conftest import Stack, started, write_config
from .test_anthropic_fidelity import KEY, LONG, PRICES, fake

__all__ = ["fake"]  # the fixture, shared with the fidelity tests
# Unknown to genai-prices, and given no price: its usage is billed $0.
UNPRICED = "mystery-model-7"

INPUT, OUTPUT = 3.0 / 1e6, 15.0 / 1e6  # the stack's prices, per token


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["claude"]
[[router.providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "LLMROUTER_TEST_ANTHROPIC_KEY"
[[router.providers]]
name = "compatible"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "claude"
provider = "anthropic"
{PRICES}
[[router.models]]
name = "{UNPRICED}"
provider = "compatible"
"""
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}",
        "LLMROUTER_TEST_ANTHROPIC_KEY": "test-key-not-secret",
    }
    async with started(write_config(tmp_path, providers, "auth_enabled = true"), env) as running:
        yield running


def costs(stack: Stack, *flags: str) -> str:
    """`llmrouter costs` by model, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", "costs", "--config", str(stack.config), *flags],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")},
    ).stdout


async def rows_of(tmp_path: Path, count: int) -> list[tuple[str, str, int, int, float, int]]:
    """The first ``count`` usage rows, by time, once the ledger has them."""
    rows: list[tuple[str, str, int, int, float, int]] = []
    async with asyncio.timeout(30):
        while len(rows) < count:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT status, error_type, prompt_tokens, completion_tokens, cost_usd,"
                    " usage_estimated FROM usage_records WHERE model = 'claude' ORDER BY time"
                ).fetchall()
    return rows


async def drain(stream: AsyncIterator[object]) -> None:
    """Read a stream to its end."""
    async for _chunk in stream:
        pass


async def test_attempts_that_end_early_keep_their_tokens(
    capfd: pytest.CaptureFixture[str], stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    # The router said at start, once, which model has no price.
    err = capfd.readouterr().err.splitlines()
    warned = [line for line in err if "no known price" in line]
    assert len(warned) == 1
    assert UNPRICED in warned[0]
    fake.set(
        "claude",
        Behavior(prompt_tokens=500, chunks=56, text=LONG, chunk_delay_s=0.05),
        Behavior(prompt_tokens=500, chunks=56, text=LONG, cut_after=6),
        Behavior(
            prompt_tokens=500,
            chunks=56,
            text=LONG,
            stream_error="overloaded",
            stream_error_after=4,
            error_code="overloaded_error",
        ),
        Behavior(delay_s=5),
    )
    # Input 4: the client leaves after six events of a stream whose message_start reported
    # 500 input tokens.
    body = {"model": "claude", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "POST",
            f"{stack.url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEY}"},
        ) as response,
    ):
        events = 0
        async for line in response.aiter_lines():
            events += line.startswith("data:")
            if events == 6:
                break
    await fake.wait_disconnects(1, within_s=5)
    # A cut, then an error event, after content: the client is told the answer broke.
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    for _ in range(2):
        stream = await sdk.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        with pytest.raises(openai.APIError):
            await drain(stream)
    # A whole answer the caller gives up on after it was sent.
    with pytest.raises(openai.APITimeoutError):
        await sdk.with_options(timeout=0.5).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "Hi"}]
        )

    left, cut, errored, unary = await rows_of(tmp_path, 4)
    assert left[:3] == ("cancelled", "CANCELLED", 500)
    # Relayed so far: at least the five content pieces before the sixth event (1 token each).
    assert left[3] >= 5
    assert left[4] == pytest.approx(500 * INPUT + left[3] * OUTPUT)
    # Six pieces of "token " relayed: 36 characters, estimated at 9 tokens.
    assert cut[0] == "failed"
    assert cut[2:] == (500, 9, pytest.approx(500 * INPUT + 9 * OUTPUT), 1)
    assert errored[0] == "failed"
    assert errored[2:] == (500, 6, pytest.approx(500 * INPUT + 6 * OUTPUT), 1)
    # Each of the four has some count estimated, and is marked so.
    assert [row[5] for row in (left, cut, errored, unary)] == [1, 1, 1, 1]
    # The prompt ("Hi") estimated, as for a lost hedge.
    assert unary[:2] == ("cancelled", "CANCELLED")
    assert unary[2] > 0
    assert unary[3] == 0
    assert unary[4] == pytest.approx(unary[2] * INPUT)

    # `llmrouter costs`: the cancelled attempts are a column of their own, so that a row adds
    # up, and the model without a price says so instead of a silent $0.
    sdk_reply = await sdk.chat.completions.create(
        model=UNPRICED, messages=[{"role": "user", "content": "Hi"}]
    )
    assert sdk_reply.usage is not None
    async with asyncio.timeout(30):
        while True:
            table = await asyncio.to_thread(costs, stack, "--group-by", "model")
            if UNPRICED in table:
                break
            await asyncio.sleep(0.2)
    by_model = {
        r["model"]: r
        for r in csv.DictReader(
            io.StringIO(await asyncio.to_thread(costs, stack, "--group-by", "model", "--csv"))
        )
    }
    claude = by_model["claude"]
    assert (claude["requests"], claude["succeeded"], claude["failed"], claude["cancelled"]) == (
        "4",
        "0",
        "2",
        "2",
    )
    assert claude["priced"] == "yes"
    assert by_model[UNPRICED]["priced"] == "no"
    assert by_model[UNPRICED]["cost_usd"] == "0.0"
    assert by_model["TOTAL"]["priced"] == "no"
    assert "1 requests of models with no known price are billed $0" in table
    # A missing cost is no saving: the unpriced model saves nothing and adds nothing to the
    # totals' savings (it showed 100 % before).
    unpriced = by_model[UNPRICED]
    assert (unpriced["savings_usd"], unpriced["savings_pct"]) == ("0.0", "0.0")
    priced_savings = sum(float(r["savings_usd"]) for m, r in by_model.items() if m != "TOTAL")
    assert float(by_model["TOTAL"]["savings_usd"]) == pytest.approx(priced_savings, abs=1e-6)
    assert "left out of the savings" in table
    # The four early-ended attempts' counts are estimates, and `costs` says so; the answered
    # request's are the upstream's.
    assert (claude["estimated"], by_model[UNPRICED]["estimated"]) == ("4", "0")
    assert "4 requests have token counts their upstream did not report" in table
    # The gateway's usage report counts them too.
    async with httpx.AsyncClient(timeout=10) as http:
        report = (
            await http.get(
                f"{stack.url}/v1/costs",
                params={"group_by": "model"},
                headers={"authorization": f"Bearer {KEY}"},
            )
        ).json()
    assert report["totals"]["estimated_requests"] == 4
