"""Attempts that end early keep their tokens (issue 16, input 4): the official ``openai``
package, through the real gateway, router and metrics processes, to an Anthropic-kind model
whose fake upstream reports its input tokens in ``message_start`` (Messages API reference,
"Streaming Messages"). One stack; the scenarios run one after another on it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import Behavior, FakeUpstream

from .conftest import Stack
from .test_anthropic_fidelity import KEY, LONG, fake, stack

__all__ = ["fake", "stack"]  # the fixtures, shared with the fidelity tests

INPUT, OUTPUT = 3.0 / 1e6, 15.0 / 1e6  # the stack's prices, per token


async def rows_of(tmp_path: Path, count: int) -> list[tuple[str, str, int, int, float]]:
    """The first ``count`` usage rows, by time, once the ledger has them."""
    rows: list[tuple[str, str, int, int, float]] = []
    async with asyncio.timeout(30):
        while len(rows) < count:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT status, error_type, prompt_tokens, completion_tokens, cost_usd"
                    " FROM usage_records ORDER BY time"
                ).fetchall()
    return rows


async def test_attempts_that_end_early_keep_their_tokens(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
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
        with pytest.raises(openai.APIError):
            stream = await sdk.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            async for _chunk in stream:
                pass
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
    assert cut[2:] == (500, 9, pytest.approx(500 * INPUT + 9 * OUTPUT))
    assert errored[0] == "failed"
    assert errored[2:] == (500, 6, pytest.approx(500 * INPUT + 6 * OUTPUT))
    # The prompt ("Hi") estimated, as for a lost hedge.
    assert unary[:2] == ("cancelled", "CANCELLED")
    assert unary[2] > 0 and unary[3] == 0
    assert unary[4] == pytest.approx(unary[2] * INPUT)
