"""``llmrouter eval-router`` with a real gateway, router and metrics service.

``--embeddings-url``: the prompts are embedded by the stack's simulated embedding model in
batches (each batch one ledger row at the embeddings front door), and the evaluation equals one
run on the same vectors given in the rows; the gateway's refusals end the run with status 1.

The loop on one's own data, as the README tells it: prompts replayed to every model through the
``openai`` SDK (their request ids logged with the prompts), scored by ``POST /v1/feedback``,
exported by ``llmrouter feedback export`` and evaluated with ``--prompts`` and ``--config``."""

from __future__ import annotations

import array
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from router_svc.providers.simulated import unit_vector
from tests.test_eval_router import SYNTHETIC, TINY, as_json, eval_router, policies, write_jsonl

from .conftest import Stack, run_stack, write_config

KEY = "sk-test-eval-router-0123456789"
ADMIN = "sk-test-eval-router-admin-98765"
DIMENSIONS = 32


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the module (the refusals leave no ledger row of sim-embed)."""
    tmp_path = tmp_path_factory.mktemp("stack")
    models = f"""
default_chain = ["a"]
[[router.providers]]
name = "simulated"
kind = "simulated"
local = true
[[router.models]]
name = "a"
provider = "simulated"
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "b"
provider = "simulated"
input_price_per_million = 10.0
output_price_per_million = 20.0
[[router.categories]]
name = "x"
chain = ["b", "a"]
[[router.categories]]
name = "y"
chain = ["a"]
[[router.models]]
name = "sim-embed"
provider = "simulated"
embedding = true
dimensions = {DIMENSIONS}
input_price_per_million = 0.02
"""
    config = write_config(tmp_path, models, "auth_enabled = true")
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN}",
    }
    yield from run_stack(config, env)


def embedding_rows(stack: Stack) -> list[str]:
    ledger = stack.config.parent / "metrics.sqlite3"
    deadline = time.monotonic() + 30
    query = (
        "SELECT prompt_tokens FROM usage_records WHERE front_door = 'embeddings' "
        "AND model = 'sim-embed' ORDER BY prompt_tokens"
    )
    while True:
        with sqlite3.connect(ledger) as connection:
            found = [str(r[0]) for r in connection.execute(query).fetchall()]
        if len(found) >= 4 or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_prompts_embedded_through_the_gateway_in_batches(stack: Stack, tmp_path: Path) -> None:
    env = {"EVAL_KEY": KEY}
    remote = as_json(
        eval_router(
            str(SYNTHETIC),
            "--embeddings-url",
            f"{stack.url}/v1",
            "--embedding-model",
            "sim-embed",
            "--api-key-env",
            "EVAL_KEY",
            "--batch-size",
            "50",
            "--format",
            "json",
            cwd=tmp_path,
            env=env,
        )
    )
    assert remote["embedder"] == f"sim-embed at {stack.url}/v1 ({DIMENSIONS} dimensions)"
    # 160 prompts in calls of at most 50: 50, 50, 50 and 10 inputs, each a ledger row.
    assert len(embedding_rows(stack)) == 4

    # The same vectors given in the rows (the simulated model's, as float32 carries them).
    rows: list[dict[str, Any]] = [json.loads(line) for line in SYNTHETIC.read_text().splitlines()]
    for row in rows:
        row["embedding"] = list(
            array.array("f", unit_vector("sim-embed", row["prompt"], DIMENSIONS))
        )
    given = as_json(
        eval_router(
            str(write_jsonl(tmp_path / "given.jsonl", rows)), "--format", "json", cwd=tmp_path
        )
    )
    assert given["embedder"] == f"given in the rows ({DIMENSIONS} dimensions)"
    assert remote["policies"] == given["policies"]
    assert remote["equal_quality"] == given["equal_quality"]


def test_the_gateway_refusing_ends_the_run_with_status_1(stack: Stack, tmp_path: Path) -> None:
    unknown = eval_router(
        str(SYNTHETIC),
        "--embeddings-url",
        f"{stack.url}/v1/embeddings",
        "--embedding-model",
        "no-such-model",
        "--api-key-env",
        "EVAL_KEY",
        cwd=tmp_path,
        env={"EVAL_KEY": KEY},
    )
    assert unknown.returncode == 1, unknown.stdout
    assert f"llmrouter eval-router: {stack.url}/v1/embeddings answered 404:" in unknown.stderr
    assert "no-such-model" in unknown.stderr
    no_key = eval_router(
        str(SYNTHETIC),
        "--embeddings-url",
        f"{stack.url}/v1",
        "--embedding-model",
        "sim-embed",
        cwd=tmp_path,
    )
    assert no_key.returncode == 1
    assert f"{stack.url}/v1/embeddings answered 401:" in no_key.stderr
    unset = eval_router(
        str(SYNTHETIC),
        "--embeddings-url",
        f"{stack.url}/v1",
        "--embedding-model",
        "sim-embed",
        "--api-key-env",
        "EVAL_KEY_UNSET",
        cwd=tmp_path,
    )
    assert unset.returncode == 2
    assert "--api-key-env: environment variable EVAL_KEY_UNSET is not set or empty" in unset.stderr


def feedback_export(stack: Stack, tmp_path: Path, *flags: str) -> list[dict[str, Any]]:
    """``llmrouter feedback export FLAGS`` with the stack's config, as a real process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmrouter",
            "feedback",
            "export",
            "--config",
            str(stack.config),
            *flags,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    noun = "score" if len(rows) == 1 else "scores"
    assert run.stderr == f"llmrouter feedback export: {len(rows)} {noun}\n"
    return rows


def test_replayed_prompts_scored_exported_and_evaluated(stack: Stack, tmp_path: Path) -> None:
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    log: list[dict[str, Any]] = []
    judged = ""
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for n, (prompt, a, _, b, _, category) in enumerate(TINY):
            for model, score in (("a", a), ("b", b)):
                # The model named, the category the prompt had in production pinned.
                raw = client.chat.completions.with_raw_response.create(
                    model=model,
                    messages=[{"role": "user", "content": prompt}],
                    extra_body={"llmrouter": {"category": category}},
                )
                request_id = raw.headers["x-request-id"]
                log.append({"request_id": request_id, "prompt": prompt, "id": f"p{n}"})
                scored = http.post(
                    "/v1/feedback",
                    json={"id": request_id, "score": score, "scale": "fraction"},
                    headers={"authorization": f"Bearer {KEY}"},
                )
                assert scored.status_code == 200, scored.text
                judged = request_id
        # A judge's grade of the last answer: exported beside the user's, filtered by source.
        graded = http.post(
            "/v1/feedback",
            json={"id": judged, "score": 0.1, "scale": "fraction", "source": "judge:ops"},
            headers={"authorization": f"Bearer {ADMIN}"},
        )
        assert graded.status_code == 200, graded.text

    everything = feedback_export(stack, tmp_path, "--since", "1h")
    assert len(everything) == 9
    assert [r["source"] for r in feedback_export(stack, tmp_path, "--source", "judge:")] == [
        "judge:ops"
    ]
    users = feedback_export(stack, tmp_path, "--source", "user")
    assert [(r["request_id"], r["model"]) for r in users] == [
        (e["request_id"], m) for e, m in zip(log, "abababab", strict=True)
    ]
    assert [(r["category"], r["score"]) for r in users] == [
        (c, s) for _, a, _, b, _, c in TINY for s in (a, b)
    ]
    assert set(users[0]) == {"request_id", "model", "category", "score", "source", "time"}
    assert feedback_export(stack, tmp_path, "--since", "1s", "--source", "nobody") == []

    scores = write_jsonl(tmp_path / "scores.jsonl", users)
    prompts = write_jsonl(tmp_path / "prompts.jsonl", log)
    report = as_json(
        eval_router(
            str(scores),
            "--prompts",
            str(prompts),
            "--config",
            str(stack.config),
            "--folds",
            "4",
            "--format",
            "json",
            cwd=tmp_path,
        )
    )
    got = policies(report)
    assert (report["prompts"], report["cheapest"], report["strongest"]) == (4, "a", "b")
    assert got["single:a"]["avg_quality"] == pytest.approx(0.625)
    assert got["single:b"]["avg_quality"] == pytest.approx(0.75)
    # The config's prices, the prompt's estimated tokens (7, 7, 6, 6) and 256 completion
    # tokens: a (26 x 1 + 4 x 256 x 2) / 1e6.
    assert got["single:a"]["total_cost_usd"] == pytest.approx((26 + 2048) / 1e6)
    # The config's chains: x starts with b (1.0, 1.0), y with a (.5, 1.0).
    assert got["static:config"]["avg_quality"] == pytest.approx(0.875)
    assert got["static:config"]["calls"] == {"a": 2, "b": 2}
