"""The official ``openai`` package, unchanged, against the real processes: ``models.list()`` and
``models.retrieve()`` show every model and category with windows, capabilities and prices; a
category sent as the model is served by its chain; and a client whose base URL lacks ``/v1``
chats (plain and streamed) and lists models as one with it does (raw httpx for the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import FakeUpstream, running_upstream

from .conftest import Stack, run_stack, write_config

KEY = "sk-test-models-0123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["gpt-fake"]
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "gpt-fake"
provider = "fake"
tools = true
reasoning = true
max_output_tokens = 4096
context_window = 32000
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "omni"
provider = "fake"
upstream_model = "gpt-4o"
vision = true
[[router.models]]
name = "retired"
provider = "fake"
enabled = false
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.categories]]
name = "code"
chain = ["omni", "gpt-fake"]
"""
    config = write_config(tmp_path, providers, "auth_enabled = true")
    # A key without admin rights: listing models is for every key.
    iterator = run_stack(config, {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"})
    started = await asyncio.to_thread(next, iterator)
    yield started
    await asyncio.to_thread(next, iterator, None)


def client(stack: Stack, base: str = "/v1") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}{base}", api_key=KEY, max_retries=0)


async def test_the_sdk_lists_and_retrieves_models_with_prices(stack: Stack) -> None:
    page = await client(stack).models.list()
    ids = [m.id for m in page.data]
    assert ids == ["auto", "code", "gpt-fake", "omni", "retired"]

    fake = await client(stack).models.retrieve("gpt-fake")
    extra = fake.model_extra or {}
    assert (fake.id, fake.object, fake.owned_by) == ("gpt-fake", "model", "fake")
    assert (extra["context_window"], extra["max_output_tokens"]) == (32000, 4096)
    assert extra["capabilities"]["tools"]
    assert extra["capabilities"]["reasoning"]
    assert extra["pricing"]["input"] == 1.0
    assert extra["pricing"]["sources"]["input"] == "config"

    # Priced and sized from genai-prices' table for its upstream model (gpt-4o).
    omni = (await client(stack).models.retrieve("omni")).model_extra or {}
    assert (omni["pricing"]["input"], omni["pricing"]["output"]) == (2.5, 10.0)
    assert omni["pricing"]["sources"]["output"] == "genai-prices"
    assert omni["context_window"] == 128000

    retired = (await client(stack).models.retrieve("retired")).model_extra or {}
    assert retired["enabled"] is False

    code = (await client(stack).models.retrieve("code")).model_extra or {}
    assert (code["type"], code["chain"]) == ("category", ["omni", "gpt-fake"])
    assert code["pricing"]["model"] == "omni"

    with pytest.raises(openai.NotFoundError) as info:
        await client(stack).models.retrieve("gpt-9")
    assert info.value.code == "model_not_found"


async def test_a_category_sent_as_the_model_is_served_by_its_chain(stack: Stack) -> None:
    reply = await client(stack).chat.completions.create(
        model="code", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.model == "omni"


async def test_a_base_url_without_v1_works_like_one_with_it(stack: Stack) -> None:
    bare = client(stack, base="")
    reply = await bare.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "Hello"}]
    )
    assert reply.choices[0].message.content == "Hello from gpt-fake."

    stream = await bare.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    text = ""
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    assert text == "Hello from gpt-fake."

    listed = [m.id for m in (await bare.models.list()).data]
    assert listed == [m.id for m in (await client(stack).models.list()).data]
    assert (await bare.models.retrieve("omni")).id == "omni"

    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=10) as http:
        route = await http.post(
            "/route", json={"model": "code", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert route.status_code == 200
        assert [c["model"] for c in route.json()["candidates"]] == ["omni", "gpt-fake"]
        assert (await http.get("/models/nope")).status_code == 404
        assert (await http.get("/models", headers={"authorization": ""})).status_code == 401
        # Reports and admin routes have no alias.
        assert (await http.get("/costs")).status_code == 404
