"""Model fallbacks through the real gateway, router and metrics processes, with the official
``openai`` package: OpenRouter's ``models``, LiteLLM's ``fallbacks`` and a model's configured
``fallbacks``, against a fake upstream whose named model answers 503."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmrouter import field_limits
from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-fallbacks-0123456789"
HEADERS = {"authorization": f"Bearer {KEY}"}
MESSAGES: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    # One try per model, so each request's attempts are the chain in order.
    models = f"""
default_chain = ["gpt-4o", "backup"]
[router.retry]
attempts_per_model = 1
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "gpt-4o"
provider = "fake"
fallbacks = ["backup-alias"]
[[router.models]]
name = "backup"
provider = "fake"
aliases = ["backup-alias"]
[[router.models]]
name = "spare"
provider = "fake"
[[router.models]]
name = "tiny"
provider = "fake"
context_window = 300
"""
    config = write_config(tmp_path, models, "auth_enabled = true")
    async with started(config, {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"}) as running:
        yield running


def client(stack: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)


async def usage_rows(db: Path, request_ids: list[str]) -> list[tuple[str, int, str, bool, str]]:
    """(request_id, attempt, model, fallback, fallback_from) of the requests' records, once
    every request has its last (succeeded) attempt in the ledger."""
    marks = ",".join("?" * len(request_ids))
    query = (
        "SELECT request_id, attempt, model, fallback, fallback_from FROM usage_records "
        f"WHERE request_id IN ({marks}) ORDER BY request_id, attempt"
    )
    async with asyncio.timeout(30):
        while True:
            with sqlite3.connect(db) as connection:
                rows = connection.execute(query, request_ids).fetchall()
                served = connection.execute(
                    f"SELECT COUNT(*) FROM usage_records WHERE request_id IN ({marks}) "
                    "AND status = 'succeeded'",
                    request_ids,
                ).fetchone()[0]
            if served == len(request_ids):
                return [(r, a, m, bool(f), ff) for r, a, m, f, ff in rows]
            await asyncio.sleep(0.1)


async def test_a_named_model_fails_over_to_request_and_config_fallbacks(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    """One scenario after another on one stack: the named model answers 503 throughout."""
    fake.set("gpt-4o", Behavior(status=503))
    sdk = client(stack)

    # OpenRouter: `models` after `model` (listing the primary again, as clients do).
    by_models = await sdk.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_body={"models": ["gpt-4o", "spare"]}
    )
    reply = by_models.parse()
    assert reply.model == "spare"
    assert reply.choices[0].message.content == "Hello from spare."

    # LiteLLM: `fallbacks`, streamed; a name and a {"model": ...} object.
    stream = await sdk.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        extra_body={"fallbacks": ["spare", {"model": "backup"}]},
    )
    chunks = [chunk async for chunk in stream]
    assert {c.model for c in chunks} == {"spare"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello from spare."
    )
    streamed_id = stream.response.headers["x-request-id"]

    # No request list: the model's configured fallbacks (an alias of "backup").
    by_config = await sdk.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES
    )
    assert by_config.parse().model == "backup"

    # "auto" with fallbacks: they come after the category's chain.
    http = httpx.AsyncClient(base_url=stack.url, headers=HEADERS)
    route = await http.post(
        "/v1/route",
        json={"model": "auto", "messages": MESSAGES, "fallbacks": ["spare", "backup"]},
    )
    assert route.status_code == 200, route.text
    # The primary's breaker opened after its third failure in a row: it is skipped; "backup"
    # is already in the chain, so it is not added again.
    assert [(c["model"], c["reason"]) for c in route.json()["candidates"]] == [
        ("backup", "chain position 2"),
        ("spare", "fallback 1 (request)"),
    ]
    assert [(s["model"], s["reason"]) for s in route.json()["skipped"]] == [
        ("gpt-4o", "breaker_open")
    ]

    # Fallbacks are filtered like any candidate (tiny's context window is too small).
    long_messages = [{"role": "user", "content": "word " * 400}]
    route = await http.post(
        "/v1/route",
        json={"model": "gpt-4o", "messages": long_messages, "models": ["tiny", "spare"]},
    )
    assert route.status_code == 200, route.text
    decision = route.json()
    assert [(c["model"], c["reason"]) for c in decision["candidates"]] == [
        ("spare", "fallback 2 (request)"),
    ]
    assert [(s["model"], s["reason"]) for s in decision["skipped"]] == [
        ("gpt-4o", "breaker_open"),
        ("tiny", "context_window"),
    ]
    route = await http.post("/v1/route", json={"model": "gpt-4o", "messages": MESSAGES})
    await http.aclose()
    assert [(c["model"], c["reason"]) for c in route.json()["candidates"]] == [
        ("backup", "fallback 1 (config)"),
    ]

    # Usage: every attempt is a record; the fallback attempts are marked as such.
    ids = [by_models.headers["x-request-id"], streamed_id, by_config.headers["x-request-id"]]
    rows = await usage_rows(tmp_path / "metrics.sqlite3", ids)
    assert rows == sorted(
        [
            (ids[0], 1, "gpt-4o", False, ""),
            (ids[0], 2, "spare", True, "gpt-4o"),
            (ids[1], 1, "gpt-4o", False, ""),
            (ids[1], 2, "spare", True, "gpt-4o"),
            (ids[2], 1, "gpt-4o", False, ""),
            (ids[2], 2, "backup", True, "gpt-4o"),
        ]
    )
    assert fake.calls("gpt-4o") == 3


BAD_FALLBACKS: list[tuple[dict[str, Any], str, str]] = [
    ({"fallbacks": ["spare", "gpt-5-nope"]}, "fallbacks[1]", "'gpt-5-nope' does not exist"),
    ({"models": ["gpt-4o", "spare", "nope"]}, "models[2]", "'nope' does not exist"),
    ({"fallbacks": [{"model": "nope"}]}, "fallbacks[0].model", "'nope' does not exist"),
    ({"fallbacks": ["spare", 7]}, "fallbacks[1]", "expected a model name"),
    ({"fallbacks": ["spare", ["backup"]]}, "fallbacks[1]", "expected a model name"),
    ({"fallbacks": [{"model": "spare", "messages": []}]}, "fallbacks[0].messages", "overrides"),
    ({"models": ["spare", {"model": "backup"}]}, "models[1]", "expected a string"),
    ({"models": "spare"}, "models", "expected an array"),
    ({"models": [""]}, "models[0]", "empty string"),
    ({"models": ["x" * 257]}, "models[0]", "string too long"),
    (
        {"fallbacks": ["spare"] * (field_limits.FALLBACK_MODELS_MAX + 1)},
        "fallbacks",
        "array too long",
    ),
    ({"models": ["spare"], "fallbacks": ["backup"]}, "fallbacks", "not both"),
]


async def test_bad_fallbacks_are_a_400_naming_the_field(stack: Stack, fake: FakeUpstream) -> None:
    """Each bad list, as JSON, streamed and to /v1/route, one after another on one stack."""
    async with httpx.AsyncClient(base_url=stack.url, headers=HEADERS) as http:
        for extra, param, says in BAD_FALLBACKS:
            body = {"model": "gpt-4o", "messages": MESSAGES, **extra}
            for path, stream in (
                ("/v1/chat/completions", False),
                ("/v1/chat/completions", True),
                ("/v1/route", False),
            ):
                response = await http.post(path, json={**body, "stream": stream})
                assert response.status_code == 400, (extra, response.text)
                error = response.json()["error"]
                assert error["param"] == param, (extra, error)
                assert error["type"] == "invalid_request_error"
                assert says in error["message"], (extra, error)
                assert f"'{param}'" in error["message"], (extra, error)
    assert fake.requests == []  # nothing was sent upstream
