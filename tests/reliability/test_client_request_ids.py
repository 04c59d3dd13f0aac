"""A client cannot drop its own usage from the ledger by repeating an X-Request-Id.

Real gateway, router and metrics processes over a fake upstream: requests that all carry the same
X-Request-Id — one after another and at once, JSON and streamed, and through a failover chain
where each request makes two attempts — are each served upstream, and every upstream call is a
row of the SQLite ledger. Each row has the router's request id (the response's x-request-id) and
carries the client's id only as ``client_request_id``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import orjson

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .stack import gateway_section, metrics_section, openai_models, router_section, stack

KEY = "sk-reliability-request-ids-0123456789"
N = 6  # the count: six requests with one id were one row
GENERATED = re.compile(r"[0-9a-f]{32}")
ROUTER_BODY = """default_chain = ["b"]
[router.retry]
attempts_per_model = 1
budget_max_tokens = 1000.0
budget_token_ratio = 1.0
[router.breaker]
# "a" fails every call of the failover phase and must stay in the chain throughout.
consecutive_failures = 1000
min_calls = 1000
[[router.categories]]
name = "flaky"
chain = ["a", "b"]
"""

Send = Callable[[httpx.AsyncClient, str, dict[str, object]], Awaitable["Reply"]]


class Reply:
    """What the client saw: status, both ids, the completion ids in the body, attempts."""

    def __init__(self, response: httpx.Response, completion_ids: set[str]) -> None:
        self.status = response.status_code
        self.request_id = response.headers.get("x-request-id", "")
        self.client_request_id = response.headers.get("x-client-request-id", "")
        self.attempts = int(response.headers.get("x-llmrouter-attempts", "0"))
        self.completion_ids = completion_ids
        self.text = response.text


async def send_json(http: httpx.AsyncClient, client_id: str, body: dict[str, object]) -> Reply:
    response = await http.post(
        "/v1/chat/completions", json=body, headers={"x-request-id": client_id}
    )
    ids = {response.json()["id"]} if response.status_code == 200 else set()
    return Reply(response, ids)


async def send_stream(http: httpx.AsyncClient, client_id: str, body: dict[str, object]) -> Reply:
    async with http.stream(
        "POST",
        "/v1/chat/completions",
        json={**body, "stream": True},
        headers={"x-request-id": client_id},
    ) as response:
        await response.aread()
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line]
    assert events[-1:] == ["[DONE]"], response.text
    return Reply(response, {orjson.loads(e)["id"] for e in events[:-1]})


def ledger(db: Path, client_id: str) -> list[tuple[str, str, int, str]]:
    """(id, request_id, attempt, status) of the rows carrying ``client_id``."""
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "SELECT id, request_id, attempt, status FROM usage_records "
                "WHERE client_request_id = ?",
                (client_id,),
            )
        )


def row_count(db: Path) -> int:
    """Rows in the ledger (0 before the metrics service created it)."""
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM usage_records").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


async def wait_row_count(db: Path, count: int, within_s: float = 10.0) -> int:
    """The ledger's row count once it reaches ``count``, or after ``within_s``; either way a
    little later too, so that a surplus row would be counted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if await asyncio.to_thread(row_count, db) >= count:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the outbox ships every 50 ms
    return await asyncio.to_thread(row_count, db)


def chat_calls(upstream: FakeUpstream) -> int:
    return sum(r.path.endswith("/chat/completions") for r in upstream.requests)


async def test_a_repeated_x_request_id_is_billed_once_per_attempt(tmp_path: Path) -> None:
    async with AsyncExitStack() as exits:
        upstream = await exits.enter_async_context(running_upstream())
        upstream.set("a", Behavior(status=503))
        s = await exits.enter_async_context(
            stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"})
        )
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        models = openai_models("fake", upstream.base_url, ["a", "b"])
        router = await s.start(
            "router",
            "router",
            router_section(tmp_path, "router", metrics.port, ROUTER_BODY + models),
        )
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
        http = await exits.enter_async_context(
            httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            )
        )
        plain = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        flaky = {**plain, "llmrouter": {"category": "flaky"}}

        async def one_after_another(
            send: Send, client_id: str, body: dict[str, object]
        ) -> list[Reply]:
            return [await send(http, client_id, body) for _ in range(N)]

        async def at_once(send: Send, client_id: str, body: dict[str, object]) -> list[Reply]:
            return list(await asyncio.gather(*(send(http, client_id, body) for _ in range(N))))

        phases = [
            ("json-sequential", one_after_another, send_json, plain, 1),
            ("json-concurrent", at_once, send_json, plain, 1),
            ("stream-sequential", one_after_another, send_stream, plain, 1),
            ("stream-concurrent", at_once, send_stream, plain, 1),
            ("failover-json", at_once, send_json, flaky, 2),
            ("failover-stream", one_after_another, send_stream, flaky, 2),
        ]
        for client_id, run, send, body, attempts in phases:
            calls_before = chat_calls(upstream)
            rows_before = await asyncio.to_thread(row_count, s.metrics_db)

            replies = await run(send, client_id, body)

            assert [(r.status, r.attempts) for r in replies] == [(200, attempts)] * N, [
                r.text for r in replies
            ]
            # Every request was served upstream: N requests, N x attempts upstream calls...
            assert chat_calls(upstream) - calls_before == N * attempts, client_id
            # ... and every upstream call is a row of the ledger.
            rows_after = await wait_row_count(s.metrics_db, rows_before + N * attempts)
            assert rows_after - rows_before == N * attempts, client_id
            # The client gets the server's id, its own beside it, and completion ids of the
            # server's id.
            ids = [r.request_id for r in replies]
            assert all(GENERATED.fullmatch(i) for i in ids), ids
            assert len(set(ids)) == N, ids
            assert {r.client_request_id for r in replies} == {client_id}
            assert [r.completion_ids for r in replies] == [{f"chatcmpl-{i}"} for i in ids]
            # Each row is under the id its response named, with the client's id beside it.
            rows = await asyncio.to_thread(ledger, s.metrics_db, client_id)
            assert sorted(row[0] for row in rows) == sorted(
                f"{i}:{n}" for i in ids for n in range(1, attempts + 1)
            ), client_id
            assert all(row[0] == f"{row[1]}:{row[2]}" for row in rows)
            served = {row[1] for row in rows if row[3] == "succeeded"}
            assert served == set(ids)
            assert len(rows) - len(served) == N * (attempts - 1)
