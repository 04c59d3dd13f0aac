"""Issue 19, "Response cache": real gateway, router and metrics processes, an OpenAI-kind fake
upstream over HTTP (which counts the requests that reach it), and the ledger's SQLite file.

A request that asks for the cache is answered from it the second time: the upstream is not
called, the content is the same, the client sees ``x-llmrouter-cache: hit``, and the ledger has
one row with source ``cache``, cost 0 and the saving, which ``/v1/costs`` adds up. A streamed
request replays a stored answer as a stream; another sampling parameter or tool list, a
request without the opt-in, or an answer that failed is never served from it. Two stacks that
share Redis share the cache.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-i19-cache-0123456789"
ON = {"x-llmrouter-cache": "on"}
HELLO = [{"role": "user", "content": "What is the capital of France?"}]
OTHER = [{"role": "user", "content": "Tell me a story."}]
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


def router_config(fake: FakeUpstream, state: str = "") -> str:
    return f"""
default_chain = ["gpt"]
[[router.providers]]
name = "oai"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "gpt"
provider = "oai"
tools = true
input_price_per_million = 2.5
output_price_per_million = 10.0
[router.cache]
ttl_s = 60
{state}
"""


ENV = {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    config = write_config(tmp_path, router_config(fake), "auth_enabled = true")
    async with started(config, ENV) as running:
        yield running


async def post(stack: Stack, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    payload = {"model": "gpt", "messages": HELLO, **body}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{stack.url}/v1/chat/completions",
            json=payload,
            headers={"authorization": f"Bearer {KEY}", **(headers or {})},
        )


def events(response: httpx.Response) -> list[Any]:
    """The SSE data payloads, ``[DONE]`` as the string."""
    out: list[Any] = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def streamed_text(response: httpx.Response) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in events(response)
        if isinstance(c, dict) and c.get("choices")
    )


async def ledger(tmp_path: Path, count: int) -> list[tuple[Any, ...]]:
    """(source, status, cost_usd, saved_cost_usd, model) of the rows, once ``count`` arrived."""
    rows: list[tuple[Any, ...]] = []
    async with asyncio.timeout(30):
        while len(rows) < count:
            await asyncio.sleep(0.1)
            with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
                rows = db.execute(
                    "SELECT source, status, cost_usd, saved_cost_usd, model FROM usage_records"
                    " ORDER BY time"
                ).fetchall()
    return rows


async def test_the_second_identical_request_is_answered_from_the_cache(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    first = await post(stack, ON)
    second = await post(stack, ON)

    assert first.status_code == second.status_code == 200, first.text
    assert fake.calls("gpt") == 1
    assert (first.headers["x-llmrouter-cache"], second.headers["x-llmrouter-cache"]) == (
        "miss",
        "hit",
    )
    answer = second.json()
    assert (
        answer["choices"][0]["message"]["content"]
        == (first.json()["choices"][0]["message"]["content"])
    )
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == first.json()["usage"]  # the counts the answer was served with
    assert second.headers["x-request-id"] != first.headers["x-request-id"]

    rows = await ledger(tmp_path, 2)
    (_, _, upstream_cost, _, _), hit = rows
    assert upstream_cost > 0
    assert hit == ("cache", "succeeded", 0.0, pytest.approx(upstream_cost), "gpt")
    async with httpx.AsyncClient(timeout=10) as http:
        report = (
            await http.get(
                f"{stack.url}/v1/costs",
                params={"group_by": "source"},
                headers={"authorization": f"Bearer {KEY}"},
            )
        ).json()
    assert report["totals"]["cache_hits"] == 1
    assert report["totals"]["cache_saved_usd"] == pytest.approx(upstream_cost)
    assert report["totals"]["cost_usd"] == pytest.approx(upstream_cost)  # paid once


async def test_a_stored_answer_is_replayed_as_a_stream_and_a_streamed_one_whole(
    stack: Stack, fake: FakeUpstream
) -> None:
    whole = await post(stack, ON)
    replay = await post(stack, ON, stream=True, stream_options={"include_usage": True})

    assert replay.status_code == 200
    assert replay.headers["x-llmrouter-cache"] == "hit"
    assert fake.calls("gpt") == 1
    chunks = events(replay)
    assert chunks[-1] == "[DONE]"
    choices = [c["choices"][0] for c in chunks[:-1] if c["choices"]]
    assert choices[0]["delta"]["role"] == "assistant"
    assert streamed_text(replay) == whole.json()["choices"][0]["message"]["content"]
    assert choices[-1]["finish_reason"] == "stop"
    assert chunks[-2]["usage"] == whole.json()["usage"]

    # The other way round: a streamed answer, stored, serves a whole-answer request.
    question = [{"role": "user", "content": "And of Italy?"}]
    streamed = await post(stack, ON, messages=question, stream=True)
    again = await post(stack, ON, messages=question)
    assert (streamed.headers["x-llmrouter-cache"], again.headers["x-llmrouter-cache"]) == (
        "miss",
        "hit",
    )
    assert fake.calls("gpt") == 2
    assert again.json()["choices"][0]["message"]["content"] == streamed_text(streamed)


async def test_other_sampling_tools_or_no_opt_in_go_upstream(
    stack: Stack, fake: FakeUpstream
) -> None:
    assert (await post(stack, ON, temperature=0.2)).headers["x-llmrouter-cache"] == "miss"
    variants: list[tuple[dict[str, str], dict[str, Any]]] = [
        (ON, {"temperature": 0.3}),
        (ON, {"temperature": 0.2, "top_p": 0.5}),
        (ON, {"temperature": 0.2, "tools": [TOOL]}),
        (ON, {"temperature": 0.2, "max_tokens": 50}),
        ({}, {"temperature": 0.2}),  # no opt-in: the cache is not consulted
        ({"x-llmrouter-cache": "off"}, {"temperature": 0.2}),
        (ON, {"temperature": 0.2, "llmrouter": {"cache": False}}),  # the body wins
    ]
    for i, (headers, body) in enumerate(variants, start=2):
        response = await post(stack, headers, **body)
        assert response.status_code == 200, response.text
        assert fake.calls("gpt") == i, body
        assert response.headers.get("x-llmrouter-cache") in ("miss", None)
    # And the body alone opts in.
    hit = await post(stack, temperature=0.2, llmrouter={"cache": True})
    assert hit.headers["x-llmrouter-cache"] == "hit"
    assert fake.calls("gpt") == len(variants) + 1


async def test_a_bad_opt_in_is_a_400_naming_it(stack: Stack, fake: FakeUpstream) -> None:
    header = await post(stack, {"x-llmrouter-cache": "yes"})
    body = await post(stack, llmrouter={"cache": "on"})

    assert (header.status_code, body.status_code) == (400, 400)
    assert header.json()["error"]["param"] == "X-LLMRouter-Cache"
    assert body.json()["error"]["param"] == "llmrouter.cache"
    assert fake.calls("gpt") == 0


async def test_failed_or_truncated_answers_are_not_stored(stack: Stack, fake: FakeUpstream) -> None:
    fake.set("gpt", Behavior(status=400, error_message="bad request"))
    assert (await post(stack, ON)).status_code == 400
    fake.set("gpt", Behavior())
    # Four pieces of text, at most two tokens: the fake stops with finish_reason "length".
    assert (await post(stack, ON, max_tokens=2)).json()["choices"][0]["finish_reason"] == "length"
    fake.set("gpt", Behavior(stream_error="upstream went away", stream_error_after=2))
    broken = await post(stack, ON, messages=OTHER, stream=True)
    assert "error" in events(broken)[-1]
    calls = fake.calls("gpt")

    fake.set("gpt", Behavior())
    for body in ({}, {"max_tokens": 2}, {"messages": OTHER, "stream": True}):
        response = await post(stack, ON, **body)
        assert response.headers["x-llmrouter-cache"] == "miss", body
    assert fake.calls("gpt") == calls + 3
    # The answer that did finish is stored: asked again, it is a hit.
    assert (await post(stack, ON)).headers["x-llmrouter-cache"] == "hit"


@pytest.fixture
def redis_prefix() -> str:
    return f"llmrouter-test-{uuid.uuid4().hex}:"


async def test_two_stacks_sharing_redis_share_the_cache(
    tmp_path: Path, fake: FakeUpstream, redis_prefix: str
) -> None:
    state = f'[state]\nbackend = "redis"\nkey_prefix = "{redis_prefix}"'
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_config(tmp_path / "a", router_config(fake, state), "auth_enabled = true")
    two = write_config(tmp_path / "b", router_config(fake, state), "auth_enabled = true")
    async with started(one, ENV) as first_stack, started(two, ENV) as second_stack:
        first = await post(first_stack, ON)
        second = await post(second_stack, ON)

    assert (first.headers["x-llmrouter-cache"], second.headers["x-llmrouter-cache"]) == (
        "miss",
        "hit",
    )
    assert fake.calls("gpt") == 1
    assert (
        second.json()["choices"][0]["message"]["content"]
        == (first.json()["choices"][0]["message"]["content"])
    )
