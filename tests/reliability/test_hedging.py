"""Hedging through the real gateway, router and metrics processes with the official ``openai``
client, one scenario after another in one stack: a model that answers (or starts its stream)
2 s late is raced by the next one after ``hedge_after_s``, the client gets the faster answer,
the late request is closed at the upstream, and the ledger holds both attempts: the winner, and
the loser cancelled as ``HEDGE_LOST`` and billed its prompt."""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .stack import (
    gateway_section,
    metrics_section,
    openai_models,
    router_section,
    stack,
    wait_usage,
)

KEY = "sk-reliability-hedging-0123456789"
HEDGE_AFTER_S = 0.2
SLOW_S = 2.0


def router_body(base_url: str) -> str:
    return f"""default_chain = ["a", "b"]
[router.retry]
hedge_after_s = {HEDGE_AFTER_S}
{openai_models("oai", base_url, ["a", "b"])}"""


def ledger(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each request's rows, by attempt: (model, status, error type, prompt tokens, completion
    tokens, cost, fallback, fallback from)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT request_id, attempt, model, status, error_type, prompt_tokens,"
            " completion_tokens, cost_usd, fallback, fallback_from FROM usage_records"
            " ORDER BY request_id, attempt"
        )
        by_request: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for request_id, _, *rest in rows:
            by_request[request_id].append(tuple(rest))
    return by_request


async def test_a_late_model_is_raced_by_the_next_and_both_are_billed(tmp_path: Path) -> None:
    async with AsyncExitStack() as exits:
        upstream: FakeUpstream = await exits.enter_async_context(running_upstream())
        s = await exits.enter_async_context(
            stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"})
        )
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start(
            "router",
            "router",
            router_section(tmp_path, "router", metrics.port, router_body(upstream.base_url)),
        )
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
        client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key=KEY, max_retries=0)
        messages: Any = [{"role": "user", "content": "hello there"}]

        # A whole answer 2 s late: b's answer after about 0.2 s, a's request closed.
        upstream.set("a", Behavior(delay_s=SLOW_S))
        for n in (1, 2):
            started = time.monotonic()
            raw = await client.chat.completions.with_raw_response.create(
                model="auto", messages=messages
            )
            took = time.monotonic() - started
            answer = raw.parse()
            assert answer.choices[0].message.content == "Hello from b."
            assert raw.headers["x-llmrouter-model"] == "b"
            assert raw.headers["x-llmrouter-attempts"] == "2"
            assert HEDGE_AFTER_S <= took < 1.0, took
            await upstream.wait_disconnects(n, within_s=1.0)

        # A stream whose first token is 2 s late: b's stream, a's closed.
        upstream.set("a", Behavior(first_chunk_delay_s=SLOW_S))
        started = time.monotonic()
        stream = await client.chat.completions.create(model="auto", messages=messages, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "Hello from b."
        assert time.monotonic() - started < 1.0
        await upstream.wait_disconnects(3, within_s=1.0)

        # On time: no hedge, b is not asked.
        upstream.set("a", Behavior())
        calls_b = upstream.calls("b")
        answer = await client.chat.completions.create(model="auto", messages=messages)
        assert answer.choices[0].message.content == "Hello from a."
        assert upstream.calls("b") == calls_b

        # The ledger: every hedged request is two rows, the loser billed its prompt.
        await wait_usage(s.metrics_db, 7)
        requests = ledger(s.metrics_db)
        shapes = sorted(
            tuple((model, status, error) for model, status, error, *_ in rows)
            for rows in requests.values()
        )
        assert shapes == [
            (("a", "cancelled", "HEDGE_LOST"), ("b", "succeeded", "")),
            (("a", "cancelled", "HEDGE_LOST"), ("b", "succeeded", "")),
            (("a", "cancelled", "HEDGE_LOST"), ("b", "succeeded", "")),
            (("a", "succeeded", ""),),
        ]
        for rows in requests.values():
            if len(rows) == 2:
                lost, won = rows
                _, _, _, prompt, completion, cost, _, _ = lost
                assert prompt > 0
                assert completion == 0
                assert abs(cost - prompt / 1e6) < 1e-12  # a's price: 1 USD per million
                assert won[6:] == (1, "a")  # a fallback from a

        # The dashboard: each hedge is a fallback event from a, for the reason the router
        # recorded (HEDGE, not a's HEDGE_LOST: a lost because b won); a lost hedge is no
        # failure of a.
        async with httpx.AsyncClient(
            base_url=s.url, headers={"authorization": f"Bearer {KEY}"}
        ) as http:
            summary = (await http.get("/v1/dashboard/summary")).json()
        events = summary["fallback_events"]
        assert [(e["fallback_from"], e["model"], e["reason"], e["status"]) for e in events] == [
            ("a", "b", "HEDGE", "succeeded")
        ] * 3
        (a,) = [m for m in summary["by_model"] if m["model"] == "a"]
        assert (a["requests"], a["successes"], a["failures"]) == (4, 1, 0)
