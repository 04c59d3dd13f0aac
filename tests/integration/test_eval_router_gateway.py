"""``llmrouter eval-router --embeddings-url`` against the real gateway, router and metrics
processes: the prompts are embedded by the stack's simulated embedding model in batches (each
batch one ledger row at the embeddings front door), and the evaluation equals one run on the
same vectors given in the rows; the gateway's refusals end the run with status 1, said."""

from __future__ import annotations

import array
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router_svc.providers.simulated import unit_vector
from tests.test_eval_router import SYNTHETIC, as_json, eval_router, write_jsonl

from .conftest import Stack, run_stack, write_config

KEY = "sk-test-eval-router-0123456789"
DIMENSIONS = 32


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the module (the refusals leave no ledger row of sim-embed)."""
    tmp_path = tmp_path_factory.mktemp("stack")
    models = f"""
default_chain = ["sim-small"]
[[router.providers]]
name = "simulated"
kind = "simulated"
local = true
[[router.models]]
name = "sim-small"
provider = "simulated"
[[router.models]]
name = "sim-embed"
provider = "simulated"
embedding = true
dimensions = {DIMENSIONS}
input_price_per_million = 0.02
"""
    config = write_config(tmp_path, models, "auth_enabled = true")
    yield from run_stack(config, {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"})


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
