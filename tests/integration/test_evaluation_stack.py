"""Evaluation jobs end to end (README, "Evaluation jobs"): the real gateway, router and metrics
processes, the official ``openai`` package as the client, a fake OpenAI-compatible upstream
serving both the answering model and the judge, and ``llmrouter eval run`` as an operator runs
it.

With ``store_content`` on, the sampled answers are graded by the judge, its calls are in the
ledger as source ``evaluation``, and nothing of the conversation stays in the admin store.
With it off (the canary), a unique string in the prompts reaches no file, log or judge.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest

from llmrouter.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-i22-eval-0123456789"
GRADE = '{"score": 9, "reason": "accurate"}'
CANARY = "canary-4e8f0a17-stack-never-stored"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        upstream.set("judge", Behavior(text=GRADE))
        yield upstream


def router_toml(fake: FakeUpstream, store_content: bool) -> str:
    return f"""
default_chain = ["chat"]
store_content = {"true" if store_content else "false"}
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "chat"
provider = "fake"
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "judge"
provider = "fake"
json_mode = true
input_price_per_million = 3.0
output_price_per_million = 15.0
[router.evaluation]
enabled = true
sample_rate = 1.0
judge_model = "judge"
"""


async def start(tmp_path: Path, fake: FakeUpstream, store_content: bool) -> Any:
    config = write_config(tmp_path, router_toml(fake, store_content), "auth_enabled = true")
    (tmp_path / "logs").mkdir()
    env = {"LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{KEY}"}
    return started(config, env, logs=tmp_path / "logs")


async def converse(stack: Stack, marker: str) -> list[str]:
    """A whole and a streamed answer through the gateway; their request ids."""
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    messages: Any = [{"role": "user", "content": f"Remember this: {marker}"}]
    whole = await client.chat.completions.with_raw_response.create(model="chat", messages=messages)
    stream = await client.chat.completions.with_raw_response.create(
        model="chat", messages=messages, stream=True
    )
    async for _ in stream.parse():
        pass
    return [whole.headers["x-request-id"], stream.headers["x-request-id"]]


def ledger(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
        return db.execute(
            "SELECT request_id, model, source, front_door, cost_usd FROM usage_records"
        ).fetchall()


async def wait_ledger(tmp_path: Path, count: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    async with asyncio.timeout(30):
        while len(rows) < count:
            await asyncio.sleep(0.1)
            if (tmp_path / "metrics.sqlite3").exists():
                rows = ledger(tmp_path)
    return rows


def eval_run(stack: Stack, *flags: str) -> subprocess.CompletedProcess[str]:
    """``llmrouter eval run`` against the stack's config, as an operator types it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from llmrouter.cli import main; raise SystemExit(main())",
            "eval",
            "run",
            "--config",
            str(stack.config),
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def files_holding(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` whose bytes hold ``needle``."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and needle.encode() in p.read_bytes()
    )


async def test_sampled_traffic_is_graded_by_the_judge(tmp_path: Path, fake: FakeUpstream) -> None:
    marker = "marker-3b7d-graded"
    async with await start(tmp_path, fake, store_content=True) as stack:
        asked = await converse(stack, marker)
        await wait_ledger(tmp_path, 2)
        # The sampled answers wait in the admin store, with their content.
        admin = tmp_path / "state.sqlite3"
        async with asyncio.timeout(10):
            while True:
                with sqlite3.connect(admin) as db:
                    waiting = db.execute("SELECT request_id FROM admin_eval_samples").fetchall()
                if len(waiting) == 2:
                    break
                await asyncio.sleep(0.05)
        assert sorted(r for (r,) in waiting) == sorted(asked)

        done = await asyncio.to_thread(eval_run, stack, "--json")

        judged = [r for r in await wait_ledger(tmp_path, 4) if r[1] == "judge"]
        assert len(judged) == 2
        assert {(r[2], r[3]) for r in judged} == {("evaluation", "evaluation")}
        assert all(r[4] > 0 for r in judged)
        assert len([r for r in fake.requests if r.model == "judge"]) == 2
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) | {"judge_cost_usd": 0} == {
            "graded": 2,
            "failed": 0,
            "pending": 0,
            "judge_cost_usd": 0,
        }
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.metrics}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            stored = await stub.ListFeedback(metrics_service_pb2.ListFeedbackRequest())
            quality = await stub.QueryQuality(metrics_service_pb2.QueryQualityRequest())
        got = {(f.request_id, f.source, f.model, f.label) for f in stored.feedback}
        assert got == {(rid, "judge:judge", "chat", "absolute") for rid in asked}
        assert all(f.score == pytest.approx(8 / 9) for f in stored.feedback)
        assert [(q.model, q.source_kind, q.count) for q in quality.stats] == [("chat", "judge", 2)]
        with sqlite3.connect(admin) as db:
            assert db.execute("SELECT count(*) FROM admin_eval_samples").fetchone() == (0,)
    # Nothing of the conversation is left in the router's store, the ledger or a log.
    assert files_holding(tmp_path, marker) == []


async def test_canary_with_store_content_off_reaches_no_file_log_or_judge(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    async with await start(tmp_path, fake, store_content=False) as stack:
        await converse(stack, CANARY)
        await wait_ledger(tmp_path, 2)
        refused = await asyncio.to_thread(eval_run, stack)
        async with httpx.AsyncClient(base_url=stack.url) as http:
            over_http = await http.post(
                "/v1/admin/evaluation", headers={"authorization": f"Bearer {KEY}"}
            )
    assert over_http.status_code == 409
    assert "store_content" in over_http.json()["error"]["message"]
    assert refused.returncode == 1
    assert "FAILED_PRECONDITION" in refused.stderr
    assert "store_content" in refused.stderr
    router_log = (tmp_path / "logs" / "router.log").read_text()
    assert "router.store_content is false: no answer is sampled" in router_log
    # The admin store, the ledger, every process's log: not a byte of it.
    assert files_holding(tmp_path, CANARY) == []
    assert CANARY not in refused.stdout + refused.stderr
    # The judge was never asked; the answering model was (the canary's only way out).
    assert [r for r in fake.requests if r.model == "judge"] == []
    assert any(CANARY in str(r.json) for r in fake.requests if r.model == "chat")
