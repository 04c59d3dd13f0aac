"""The feedback loop end to end, real processes: the official ``openai`` SDK asks a gateway,
router and metrics service for answers that weigh quality; users' thumbs-down on the top model
(POST /v1/feedback) move its estimate in the router, and the next routing decision
(POST /v1/route) and the next answer go to the other model; ``GET /v1/admin/quality`` and the
CLI's ``llmrouter quality`` show the estimate."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from .conftest import Stack, started, write_config

USER, ADMIN = "quality-user-key-4b5c6d7e8f", "quality-ops-key-0a1b2c3d4e"
# sim-small (configured quality 0.3) and sim-large (0.6), both free: quality alone decides.
ROUTING = {"llmrouter": {"category": "code", "preferences": {"quality": 1}}}
QUALITY = """
[router.quality]
prior_weight = 4
min_samples = 6
refresh_s = 0.1
"""


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = write_config(tmp_path, QUALITY, gateway_extra="auth_enabled = true")
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"user:{USER}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN}",
    }
    async with started(config, env, logs=tmp_path) as running:
        yield running


async def route(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await http.post(
        "/v1/route",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}], **ROUTING},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["category"] == "code"
    candidates: list[dict[str, Any]] = answer.json()["candidates"]
    return candidates


async def estimates(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/v1/admin/quality", headers={"authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_thumbs_down_change_the_next_routing_decision(stack: Stack) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=USER, max_retries=0)
    async with httpx.AsyncClient(
        base_url=stack.url, headers={"authorization": f"Bearer {USER}"}, timeout=10
    ) as http:
        first = await route(http)
        assert [c["model"] for c in first] == ["sim-large", "sim-small"]
        assert first[0]["quality"]["source"] == "prior"
        assert "quality 0.60 (prior)" in first[0]["reason"]

        ids = []
        for i in range(7):
            reply = await sdk.chat.completions.create(
                model="auto",
                messages=[{"role": "user", "content": f"question {i}"}],
                extra_body=ROUTING,
            )
            assert reply.model == "sim-large"
            ids.append(reply.id)
        for reply_id in ids:
            answer = await http.post("/v1/feedback", json={"id": reply_id, "score": False})
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == "sim-large"
            assert answer.json()["category"] == "code"

        # The router reads the sums every 0.1 s: the next decisions follow within a moment.
        # (min_samples is 6: the order may flip when six of the seven scores are read, so the
        # wait is for all seven.)
        async with asyncio.timeout(10):
            while True:
                after = await route(http)
                if after[0]["model"] == "sim-small" and after[1]["quality"]["samples"] == 7:
                    break
                await asyncio.sleep(0.05)
        large = after[1]
        # Beta posterior: alpha = 0.6 * 4 = 2.4, beta = 0.4 * 4 + 7 = 8.6: mean 2.4 / 11.
        assert large["quality"]["source"] == "category"
        assert large["quality"]["samples"] == 7
        assert large["quality"]["quality"] == pytest.approx(2.4 / 11)
        assert f"quality {2.4 / 11:.2f} (feedback, n=7)" in large["reason"]

        # The next answer, in the same router process, comes from the other model.
        reply = await sdk.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "again"}], extra_body=ROUTING
        )
        assert reply.model == "sim-small"

        shown = await estimates(http)
        assert shown["min_samples"] == 6
        (estimate,) = shown["estimates"]
        assert (estimate["model"], estimate["category"], estimate["samples"]) == (
            "sim-large",
            "code",
            7,
        )
        assert estimate["in_use"] is True
        assert estimate["estimate"] == pytest.approx(2.4 / 11)
        assert estimate["lower"] < estimate["estimate"] < estimate["upper"]
        # A user key may not read them.
        assert (await http.get("/v1/admin/quality")).status_code == 403

    # The operator's CLI reads the same estimates through the gateway.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmrouter",
        "quality",
        "--gateway",
        stack.url,
        "--json",
        env={**os.environ, "LLMROUTER_KEY": ADMIN},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["estimates"][0]["samples"] == 7
