"""Streams broken after their first token, through the real gateway, router and metrics
processes with the official ``openai`` streaming client, one scenario after another in one stack:
an answer cut after 40 of 60 tokens or stalled mid-way is continued on another model and arrives
whole, once; where nothing can continue it, or the model asked refuses the prefill, the client
gets the original in-band interruption, within the idle timeout. Every attempt is a ledger row."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path

import openai
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .stack import gateway_section, metrics_section, router_section, stack, usage_rows, wait_usage

KEY = "sk-reliability-continue-0123456789"
IDLE_S = 1.0
# The gateway's deadline: what a stall cost before (the issue measured 30 s).
DEADLINE_S = 30.0
# 60 tokens, the same text on every model, so the joined answer can be checked exactly.
WORDS = " ".join(f"w{i:02d}" for i in range(60))
ROUTES = {
    "claude": ("a", "b"),  # Anthropic Messages continues a final assistant message
    "vllm": ("a", "e", "d"),  # plain OpenAI cannot; a vLLM-style server can
    "plain": ("a", "e"),  # nothing can continue
    "refuses": ("a", "f"),  # configured to continue, but its server refuses the parameter
}


def router_body(base_url: str) -> str:
    categories = "".join(
        f'[[router.categories]]\nname = "{name}"\nchain = {list(chain)!r}\nkeywords = ["{name}"]\n'
        for name, chain in ROUTES.items()
    ).replace("'", '"')
    models = "".join(
        f'[[router.models]]\nname = "{name}"\nprovider = "{provider}"\n'
        "input_price_per_million = 1.0\noutput_price_per_million = 2.0\n" + extra
        for name, provider, extra in [
            ("a", "oai", ""),
            ("b", "claude", ""),
            ("d", "oai", "continuation = true\n"),
            ("e", "oai", ""),
            ("f", "oai", "continuation = true\n"),
        ]
    )
    return f"""default_chain = ["a"]
[router.retry]
attempts_per_model = 1
ttft_timeout_s = 5.0
stream_idle_timeout_s = {IDLE_S}
[router.breaker]
# "a" breaks on purpose every time: its breaker must not take it out of the series.
consecutive_failures = 100
min_calls = 100
[[router.providers]]
name = "oai"
kind = "openai"
base_url = "{base_url}/v1"
[[router.providers]]
name = "claude"
kind = "anthropic"
base_url = "{base_url}"
api_key_env = "LLMROUTER_TEST_CLAUDE_KEY"
{models}{categories}"""


async def ask(client: openai.AsyncOpenAI, route: str) -> tuple[str, str | None, float]:
    """(text, finish reason, seconds) of one streamed answer."""
    started = time.monotonic()
    stream = await client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": f"please answer via {route}"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish = "", None
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return text, finish, time.monotonic() - started


async def test_broken_streams_continue_or_end_with_the_original_error(tmp_path: Path) -> None:
    async with AsyncExitStack() as exits:
        upstream: FakeUpstream = await exits.enter_async_context(running_upstream())
        s = await exits.enter_async_context(
            stack(
                tmp_path,
                {
                    "LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}",
                    "LLMROUTER_TEST_CLAUDE_KEY": "test-key-not-secret",
                },
            )
        )
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start(
            "router",
            "router",
            router_section(tmp_path, "router", metrics.port, router_body(upstream.base_url)),
        )
        await s.start(
            "gateway",
            "gateway",
            gateway_section([router.port], metrics.port, f"request_timeout_s = {DEADLINE_S}"),
        )
        client = openai.AsyncOpenAI(
            base_url=f"{s.url}/v1", api_key=KEY, max_retries=0, timeout=DEADLINE_S + 5
        )
        for name in "bdef":
            upstream.set(name, Behavior(chunks=60, text=WORDS))

        # Cut after 40 of 60 tokens: the whole answer, once.
        upstream.set("a", Behavior(chunks=60, text=WORDS, cut_after=40))
        assert (await ask(client, "claude"))[:2] == (WORDS, "stop")

        # Stalled mid-answer with the connection open: continued once the idle timeout
        # passes, not at the deadline.
        upstream.set("a", Behavior(chunks=60, text=WORDS, stall_after=40))
        text, finish, took = await ask(client, "claude")
        assert (text, finish) == (WORDS, "stop")
        assert IDLE_S <= took < IDLE_S + 2.0, took

        upstream.set("a", Behavior(chunks=60, text=WORDS, cut_after=40))
        assert (await ask(client, "vllm"))[:2] == (WORDS, "stop")

        # Nothing can continue: the in-band interruption, within the idle timeout.
        upstream.set("a", Behavior(chunks=60, text=WORDS, stall_after=40))
        started = time.monotonic()
        with pytest.raises(openai.APIError) as stalled:
            await ask(client, "plain")
        assert time.monotonic() - started < IDLE_S + 2.0
        assert stalled.value.code == "stream_interrupted"
        assert "a stalled after 40 chunks" in stalled.value.message

        # The one model that could continue refuses the prefill (HTTP 400): the client still
        # learns that the answer broke, not that some model disliked a request it never made.
        upstream.set("a", Behavior(chunks=60, text=WORDS, cut_after=40))
        upstream.set("f", Behavior(reject_prefill=True))
        with pytest.raises(openai.APIError) as refused:
            await ask(client, "refuses")
        assert refused.value.code == "stream_interrupted"
        assert "a failed after 40 chunks" in refused.value.message
        assert upstream.calls("f") == 1

        # Every attempt is a ledger row: both parts of each continued answer billed.
        await wait_usage(s.metrics_db, 9)
        rows = usage_rows(s.metrics_db)
        by_request: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for row_id, status, tokens in sorted(rows):
            by_request[row_id.rsplit(":", 1)[0]].append((status, tokens))
        shapes = sorted(tuple(status for status, _ in attempts) for attempts in by_request.values())
        assert shapes == [
            ("failed",),
            ("failed", "failed"),
            ("failed", "succeeded"),
            ("failed", "succeeded"),
            ("failed", "succeeded"),
        ]
        for attempts in by_request.values():
            if [status for status, _ in attempts] == ["failed", "succeeded"]:
                # 40 tokens relayed (estimated from their text), then the rest.
                assert attempts[0][1] > 0
                assert attempts[1][1] in (20, 21)
