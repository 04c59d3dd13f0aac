"""Issue 16, "Errors": an upstream out of quota or credit is a billing failure, not a rate limit,
and an upstream 400 naming the client's field keeps its ``param`` and ``code``.

Real gateway, router and metrics processes over the fake upstream, which answers with the
providers' published error bodies (OpenAI "Error codes": 429 insufficient_quota, 400 with
``param``; Anthropic "Errors": 402 billing_error). The scenarios run one after another on one
stack, so state (breakers, budgets) carries between them. Client: raw HTTP, to see every field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .conftest import Stack, started, write_config

KEY = "sk-test-i16-billing-0123456789"
ANTHROPIC_KEY = "LLMROUTER_TEST_I16_BILLING_ANTHROPIC_KEY"
USER = [{"role": "user", "content": "Weather in Paris?"}]


def body(**error: Any) -> bytes:
    return json.dumps({"error": error}).encode()


QUOTA = Behavior(
    status=429,
    raw_body=body(
        message="You exceeded your current quota, please check your plan and billing details.",
        type="insufficient_quota",
        param=None,
        code="insufficient_quota",
    ),
)
RATE = Behavior(
    status=429,
    raw_body=body(
        message="Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000.",
        type="tokens",
        param=None,
        code="rate_limit_exceeded",
    ),
)
CREDIT = Behavior(
    status=402,
    raw_body=json.dumps(
        {"type": "error", "error": {"type": "billing_error", "message": "Credit too low."}}
    ).encode(),
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["a", "b", "claude"]
[[router.providers]]
name = "oai"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{fake.base_url}"
api_key_env = "{ANTHROPIC_KEY}"
[[router.models]]
name = "a"
provider = "oai"
[[router.models]]
name = "b"
provider = "oai"
[[router.models]]
name = "claude"
provider = "anthropic"
"""
    env = {ANTHROPIC_KEY: "sk-ant-test", "LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"}
    async with started(write_config(tmp_path, providers), env) as s:
        yield s


async def post(stack: Stack, **fields: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        return await http.post(
            f"{stack.url}/v1/chat/completions", json={"messages": USER, **fields}
        )


async def test_quota_fails_over_at_once_and_is_reported_as_billing(
    stack: Stack, fake: FakeUpstream
) -> None:
    # 1. One model out of quota: the next answers, and the exhausted one is not retried
    # (attempts_per_model is 2 by default; a rate limit would be tried twice).
    fake.set("a", QUOTA)
    reply = await post(stack, model="auto")
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "b"
    assert fake.calls("a") == 1

    # 2. Every model out of quota or credit (OpenAI 429 insufficient_quota, Anthropic 402): a
    # billing failure, not "rate limited", and no Retry-After (waiting does not cure it).
    fake.set("b", QUOTA)
    fake.set("claude", CREDIT)
    reply = await post(stack, model="auto")
    error = reply.json()["error"]
    assert reply.status_code == 503, reply.text
    assert error["code"] == "all_models_quota_exhausted"
    assert error["type"] != "rate_limit_error"
    assert "rate limited" not in error["message"]
    assert "retry-after" not in reply.headers
    assert (fake.calls("a"), fake.calls("b"), fake.calls("claude")) == (2, 2, 1)
    # ... and so when streamed (the failure comes before any chunk).
    reply = await post(stack, model="auto", stream=True)
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "all_models_quota_exhausted"

    # 3. Neighbour: real rate limits everywhere still say so (429, rate_limit_error).
    for name in ("a", "b", "claude"):
        fake.set(name, RATE)
    reply = await post(stack, model="auto")
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["type"] == "rate_limit_error"


async def test_an_upstream_400_keeps_its_param_and_code(stack: Stack, fake: FakeUpstream) -> None:
    # OpenAI: 400 {"error": {"param": "reasoning_effort", "code": "unsupported_value"}}.
    fake.set(
        "a",
        Behavior(
            status=400,
            raw_body=body(
                message="Unsupported value: 'reasoning_effort' does not support 'minimal'.",
                type="invalid_request_error",
                param="reasoning_effort",
                code="unsupported_value",
            ),
        ),
    )
    reply = await post(stack, model="a", reasoning_effort="minimal")
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("reasoning_effort", "unsupported_value")
    assert error["type"] == "invalid_request_error"

    # Neighbour: a param that is free text (not a field path) is not passed on.
    fake.set(
        "a",
        Behavior(
            status=400,
            raw_body=body(
                message="bad", type="invalid_request_error", param="Weather in Paris?", code=None
            ),
        ),
    )
    reply = await post(stack, model="a")
    error = reply.json()["error"]
    assert reply.status_code == 400, reply.text
    assert (error["param"], error["code"]) == (None, "upstream_bad_request")
