"""``POST /v1/feedback`` end to end: the official ``openai`` SDK asks a real gateway, router and
metrics service, then scores the answer by its ``id`` (and by its ``x-request-id``). A key
scores only its own requests (403 otherwise), admin keys any; an unknown id is a 404; a repeat
replaces. The stored score is read back from the ledger file. (Bad bodies: 400s naming the
field, tests/gateway/test_gateway_feedback.py.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from .conftest import Stack, started, write_config

USER_A, USER_B, ADMIN = "user-a-key-0c1d2e3f4a", "user-b-key-9a8b7c6d5e", "ops-key-1f2e3d4c5b"
HELLO = [{"role": "user", "content": "hello"}]
CANARY = "canary-comment-5d1e9a"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = write_config(tmp_path, gateway_extra="auth_enabled = true")
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"a:{USER_A},b:{USER_B}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN}",
    }
    async with started(config, env, logs=tmp_path) as running:
        yield running


def sdk(stack: Stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)


async def post(stack: Stack, key: str, body: Any, path: str = "/v1/feedback") -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        return await http.post(path, json=body, headers={"authorization": f"Bearer {key}"})


def ledger_rows(stack: Stack) -> list[tuple[Any, ...]]:
    path = stack.config.parent / "metrics.sqlite3"
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT request_id, source, score, scale, raw_score, label, comment, model, "
            "api_key_id FROM feedback ORDER BY sequence"
        ).fetchall()


async def test_the_sdks_answer_is_scored_by_its_id_and_replaced_by_a_repeat(stack: Stack) -> None:
    reply = await sdk(stack, USER_A).chat.completions.create(model="sim-small", messages=HELLO)
    assert reply.id.startswith("chatcmpl-")
    request_id = reply.id.removeprefix("chatcmpl-")

    # Right after the answer: the gateway waits for its usage to reach the ledger.
    first = await post(stack, USER_A, {"id": reply.id, "score": False, "label": "wrong"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["object"] == "feedback"
    assert (body["request_id"], body["model"], body["api_key_id"]) == (request_id, "sim-small", "a")
    assert (body["score"], body["scale"], body["raw_score"], body["source"]) == (
        0.0,
        "thumbs",
        0.0,
        "user",
    )
    assert body["replaced"] is False

    again = await post(
        stack, USER_A, {"id": reply.id, "score": 4, "scale": "stars", "comment": CANARY}
    )
    assert again.status_code == 200, again.text
    assert (again.json()["score"], again.json()["replaced"]) == (0.75, True)
    assert ledger_rows(stack) == [
        (request_id, "user", 0.75, "stars", 4.0, "", CANARY, "sim-small", "a")
    ]
    # A comment is stored, never logged: no process's output holds it.
    for log in stack.config.parent.glob("*.log"):
        assert CANARY not in log.read_text(errors="replace"), log.name


async def test_the_x_request_id_and_the_alias_without_v1_work_too(stack: Stack) -> None:
    raw = await sdk(stack, USER_A).chat.completions.with_raw_response.create(
        model="sim-large", messages=HELLO
    )
    request_id = raw.headers["x-request-id"]
    answer = await post(
        stack,
        USER_A,
        {"id": request_id, "score": 0.9, "scale": "fraction", "source": "app.v2"},
        path="/feedback",
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["model"], answer.json()["source"]) == ("sim-large", "app.v2")
    assert answer.json()["score"] == pytest.approx(0.9)


async def test_only_the_requests_own_key_or_an_admin_key_may_score_it(stack: Stack) -> None:
    reply = await sdk(stack, USER_A).chat.completions.create(model="sim-small", messages=HELLO)
    assert (await post(stack, USER_A, {"id": reply.id, "score": True})).status_code == 200

    other = await post(stack, USER_B, {"id": reply.id, "score": False})
    assert other.status_code == 403, other.text
    assert other.json()["error"]["param"] == "id"
    # An SDK that sees the 403 must not think its key is bad: the message says whose request.
    assert "another API key" in other.json()["error"]["message"]

    judge = await post(stack, USER_A, {"id": reply.id, "score": True, "source": "judge:me"})
    assert judge.status_code == 403
    assert judge.json()["error"]["param"] == "source"

    ops = await post(
        stack, ADMIN, {"id": reply.id, "score": 0.2, "scale": "fraction", "source": "judge:ops"}
    )
    assert ops.status_code == 200, ops.text
    assert [(r[1], r[2]) for r in ledger_rows(stack)] == [("user", 1.0), ("judge:ops", 0.2)]


async def test_one_answer_is_one_sample_and_an_embedding_is_no_answer(stack: Stack) -> None:
    reply = await sdk(stack, USER_A).chat.completions.create(model="sim-small", messages=HELLO)
    for i in range(1, 31):
        answer = await post(stack, USER_A, {"id": reply.id, "score": False, "source": f"u{i}"})
        assert answer.status_code == 200, answer.text
    for source in ("JUDGE:x", "Judge:gpt", "evaluation", "cache"):
        refused = await post(stack, USER_A, {"id": reply.id, "score": True, "source": source})
        assert (refused.status_code, refused.json()["error"]["param"]) == (403, "source")
    assert len(ledger_rows(stack)) == 30  # every score is kept ...
    with sqlite3.connect(stack.config.parent / "metrics.sqlite3") as db:
        sums = db.execute(
            "SELECT model, source_kind, count, score_sum FROM feedback_stats WHERE count > 0"
        ).fetchall()
    assert sums == [("sim-small", "user", 1, 0.0)]  # ... but the answer is one sample

    # The embeddings answer has no id of its own; its x-request-id names the request.
    raw = await sdk(stack, USER_A).embeddings.with_raw_response.create(
        model="sim-embed", input="hello"
    )
    refused = await post(stack, USER_A, {"id": raw.headers["x-request-id"], "score": True})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "id"
    assert "embeddings" in refused.json()["error"]["message"]
    assert len(ledger_rows(stack)) == 30


async def test_an_unknown_id_is_a_404_naming_it(stack: Stack) -> None:
    answer = await post(stack, USER_A, {"id": "chatcmpl-0000aaaa", "score": True})
    assert answer.status_code == 404
    assert answer.json()["error"]["param"] == "id"


async def test_feedback_needs_a_key(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        answer = await http.post("/v1/feedback", json={"id": "x1", "score": True})
    assert answer.status_code == 401
