"""The request log through the real gateway, router and metrics processes: requests sent with
the official ``openai`` package show up in ``GET /v1/requests`` one entry per request (a
failover as one entry with its two-model chain), paged, scoped to the caller's key, and as CSV
read back with the ``csv`` module."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.translate.requests import CSV_COLUMNS
from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

ADMIN_KEY = "sk-request-log-admin-0123456789"
VIEWER_KEY = "sk-request-log-viewer-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
VIEWER = {"authorization": f"Bearer {VIEWER_KEY}"}
MESSAGES: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    # One try per model, so a failed alpha means one attempt on alpha, then one on beta.
    models = f"""
default_chain = ["alpha", "beta"]
[router.retry]
attempts_per_model = 1
[router.breaker]
consecutive_failures = 1000
min_calls = 100000
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "alpha"
provider = "fake"
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "beta"
provider = "fake"
input_price_per_million = 3.0
output_price_per_million = 6.0
"""
    config = write_config(tmp_path, models, "auth_enabled = true")
    env = {
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN_KEY}",
        "LLMROUTER_GATEWAY_API_KEYS": f"viewer:{VIEWER_KEY}",
    }
    async with started(config, env) as running:
        yield running


async def chat(stack: Stack, key: str) -> tuple[str, str, int]:
    """One completion with the official SDK: (request id, model that answered, attempts)."""
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    raw = await client.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    headers = raw.headers
    return (
        headers["x-request-id"],
        headers["x-llmrouter-model"],
        int(headers["x-llmrouter-attempts"]),
    )


async def logged(http: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The first page once it holds ``count`` requests (usage is shipped off the request path)."""
    async with asyncio.timeout(30):
        while True:
            data = (await http.get("/v1/requests")).json()["data"]
            if len(data) >= count:
                return list(data)
            await asyncio.sleep(0.1)


async def test_requests_are_listed_grouped_paged_and_scoped(
    stack: Stack, fake: FakeUpstream
) -> None:
    fake.set("alpha", Behavior(status=503), Behavior())  # the first request fails over
    sent = [await chat(stack, ADMIN_KEY) for _ in range(3)]
    own = [await chat(stack, VIEWER_KEY) for _ in range(2)]
    assert [(model, attempts) for _, model, attempts in sent] == [
        ("beta", 2), ("alpha", 1), ("alpha", 1),
    ]  # fmt: skip

    async with httpx.AsyncClient(base_url=stack.url, headers=ADMIN, timeout=30) as http:
        entries = await logged(http, 5)
        newest_first = [request_id for request_id, _, _ in reversed(sent + own)]
        assert [e["request_id"] for e in entries] == newest_first
        failover = next(e for e in entries if e["request_id"] == sent[0][0])
        assert failover["models"] == ["alpha", "beta"]
        assert failover["attempts"] == 2
        assert (failover["model"], failover["provider"]) == ("beta", "fake")
        assert (failover["status"], failover["error_type"]) == ("succeeded", "")
        assert failover["api_key_id"] == "ops"
        assert failover["cost_usd"] > 0
        assert failover["latency_ms"] > 0
        assert failover["total_tokens"] == failover["prompt_tokens"] + failover["completion_tokens"]
        # No prompt or completion text anywhere in an entry.
        assert "hello" not in str(entries)
        assert sum(e["attempts"] for e in entries) == 6

        # Pages of two, following the tokens: every request once, in the same order.
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = (await http.get("/v1/requests", params=params)).json()
            assert page["object"] == "list"
            seen += [e["request_id"] for e in page["data"]]
            assert page["has_more"] == (page["next_page_token"] is not None)
            if not page["has_more"]:
                break
            params["page_token"] = page["next_page_token"]
        assert seen == newest_first

        # Filters: a model anywhere in the chain, the key, the final status.
        by_beta = (await http.get("/v1/requests", params={"model": "beta"})).json()["data"]
        assert [e["request_id"] for e in by_beta] == [sent[0][0]]
        by_key = (await http.get("/v1/requests", params={"key": "viewer"})).json()["data"]
        assert [e["request_id"] for e in by_key] == [r for r, _, _ in reversed(own)]
        failed = (await http.get("/v1/requests", params={"status": "failed"})).json()["data"]
        assert failed == []

        # The CSV export of the same list, read back with the csv module.
        export = await http.get("/v1/requests.csv")
        assert export.status_code == 200
        assert export.headers["content-type"] == "text/csv; charset=utf-8"
        assert export.headers["content-disposition"].startswith(
            'attachment; filename="llmrouter-requests-'
        )
        reader = csv.DictReader(io.StringIO(export.text))
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
        assert [r["request_id"] for r in rows] == newest_first
        row = next(r for r in rows if r["request_id"] == sent[0][0])
        assert (row["models"], row["attempts"], row["model"]) == ("alpha > beta", "2", "beta")
        assert float(row["cost_usd"]) == pytest.approx(failover["cost_usd"])
        # format=csv on /v1/requests, with limit counting rows.
        short = await http.get("/v1/requests", params={"format": "csv", "limit": 3})
        assert [r["request_id"] for r in csv.DictReader(io.StringIO(short.text))] == (
            newest_first[:3]
        )

    # A key that is not an admin key sees its own requests only, and asks for no other.
    async with httpx.AsyncClient(base_url=stack.url, headers=VIEWER, timeout=30) as http:
        mine = (await http.get("/v1/requests")).json()["data"]
        assert [e["request_id"] for e in mine] == [r for r, _, _ in reversed(own)]
        assert {e["api_key_id"] for e in mine} == {"viewer"}
        named = await http.get("/v1/requests", params={"key": "viewer"})
        assert [e["request_id"] for e in named.json()["data"]] == [r for r, _, _ in reversed(own)]
        for path in ("/v1/requests", "/v1/requests.csv"):
            other = await http.get(path, params={"key": "ops"})
            assert other.status_code == 403
            assert other.json()["error"]["param"] == "key"
        exported = await http.get("/v1/requests.csv")
        assert [r["api_key_id"] for r in csv.DictReader(io.StringIO(exported.text))] == [
            "viewer",
            "viewer",
        ]


# Each a 400 naming the parameter.
BAD_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"status": "done"}, "status"),
    ({"start": "yesterday"}, "start"),
    ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "end"),
    ({"page_token": "not a token!"}, "page_token"),
    ({"page_token": "bm90LW91cnM"}, "page_token"),  # well-formed, not the service's
    ({"format": "xml"}, "format"),
    ({"api_key_id": "ops"}, "api_key_id"),  # /v1/costs's name is not this list's
]


async def test_bad_parameters_are_a_400_naming_them(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, headers=ADMIN, timeout=30) as http:
        for params, param in BAD_PARAMETERS:
            reply = await http.get("/v1/requests", params=params)
            assert reply.status_code == 400, (params, reply.text)
            assert reply.json()["error"]["param"] == param, params
        # A token is bound to the filter it was issued for.
        await chat(stack, ADMIN_KEY)
        await chat(stack, ADMIN_KEY)
        await logged(http, 2)
        token = (await http.get("/v1/requests", params={"limit": 1})).json()["next_page_token"]
        reply = await http.get(
            "/v1/requests", params={"limit": 1, "page_token": token, "key": "ops"}
        )
        assert reply.status_code == 400
        assert reply.json()["error"]["param"] == "page_token"
