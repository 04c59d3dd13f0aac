"""``POST /v1/embeddings`` through the real gateway, router and metrics processes, with the
official ``openai`` package unchanged (``client.embeddings.create``: a string, a list, the
SDK's default base64 and ``encoding_format="float"``), served by the simulated embedding
model, by an OpenAI-compatible fake and by an Ollama fake; failover from a failing first
model, batching over a model's input limit, errors naming the parameter, and ledger rows with
front door "embeddings" and the cost at the model's input price. Also the SDK's structured
output helpers (``chat.completions.parse``, ``responses.parse``) against the simulated chat
model, which answers JSON valid against the asked schema."""

from __future__ import annotations

import array
import asyncio
import base64
import math
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from router_svc.providers.simulated import unit_vector
from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.fakes._embeddings import fake_vector

from .conftest import Stack, started, write_config

KEY = "sk-test-embeddings-0123456789"
HEADERS = {"authorization": f"Bearer {KEY}"}
OAI_PRICE = 0.13  # USD per million input tokens
OLLA_PRICE = 0.05
TEXTS = ["the quick brown fox", "jumps over", "the lazy dog", "again", "and again and again"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as upstream:
        yield upstream


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    models = f"""
default_chain = ["sim-small"]
[router.retry]
attempts_per_model = 1
[[router.providers]]
name = "simulated"
kind = "simulated"
local = true
[[router.providers]]
name = "fake-openai"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.providers]]
name = "fake-ollama"
kind = "ollama"
base_url = "{fake.base_url}"
[[router.models]]
name = "sim-small"
provider = "simulated"
json_mode = true
input_price_per_million = 0.0
output_price_per_million = 0.0
[[router.models]]
name = "sim-embed"
provider = "simulated"
embedding = true
dimensions = 32
input_price_per_million = 0.0
output_price_per_million = 0.0
[[router.models]]
name = "oai-embed"
provider = "fake-openai"
embedding = true
max_inputs_per_request = 3
input_price_per_million = {OAI_PRICE}
output_price_per_million = 0.0
[[router.models]]
name = "olla-embed"
provider = "fake-ollama"
embedding = true
input_price_per_million = {OLLA_PRICE}
output_price_per_million = 0.0
[[router.models]]
name = "flaky-embed"
provider = "fake-openai"
embedding = true
input_price_per_million = {OAI_PRICE}
output_price_per_million = 0.0
fallbacks = ["olla-embed"]
"""
    config = write_config(tmp_path, models, "auth_enabled = true")
    async with started(config, {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"}) as running:
        yield running


def client(stack: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)


def simulated(text: str, dimensions: int = 32) -> list[float]:
    """The simulated model's vector as float32 carries it."""
    return list(array.array("f", unit_vector("sim-embed", text, dimensions)))


def fake_tokens(texts: list[str]) -> int:
    return sum(max(len(t.split()), 1) for t in texts)


def estimated_tokens(texts: list[str]) -> int:
    return sum(-(-len(t) // 4) for t in texts)


async def ledger(db: Path, request_ids: list[str], rows: int) -> list[tuple[Any, ...]]:
    """(request_id, attempt, model, status, front_door, prompt_tokens, cost_usd) of the
    requests' usage records, once there are ``rows`` of them."""
    marks = ",".join("?" * len(request_ids))
    query = (
        "SELECT request_id, attempt, model, status, front_door, prompt_tokens, cost_usd "
        f"FROM usage_records WHERE request_id IN ({marks}) ORDER BY request_id, attempt"
    )
    async with asyncio.timeout(30):
        while True:
            with sqlite3.connect(db) as connection:
                found = connection.execute(query, request_ids).fetchall()
            if len(found) >= rows:
                return found
            await asyncio.sleep(0.1)


async def test_the_openai_sdk_embeds_through_every_kind_of_model(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    sdk = client(stack)
    expected = {
        "sim-embed": (simulated, estimated_tokens, 0.0),
        "oai-embed": (lambda t: fake_vector("oai-embed", t), fake_tokens, OAI_PRICE),
        "olla-embed": (lambda t: fake_vector("olla-embed", t), fake_tokens, OLLA_PRICE),
    }
    ids: dict[str, list[str]] = {}
    for model, (vector, tokens, _) in expected.items():
        # One string, the SDK's default: it asks for base64 and decodes it itself.
        raw = await sdk.embeddings.with_raw_response.create(model=model, input="hello world")
        single = raw.parse()
        assert single.model == model
        assert [d.index for d in single.data] == [0]
        assert single.data[0].embedding == pytest.approx(vector("hello world"), abs=1e-7)
        assert single.usage.prompt_tokens == tokens(["hello world"])
        assert single.usage.total_tokens == single.usage.prompt_tokens
        # A list, as floats.
        listed = await sdk.embeddings.with_raw_response.create(
            model=model, input=TEXTS, encoding_format="float"
        )
        many = listed.parse()
        assert [d.index for d in many.data] == list(range(len(TEXTS)))
        for got, text in zip(many.data, TEXTS, strict=True):
            assert got.embedding == pytest.approx(vector(text), abs=1e-7)
        assert many.usage.prompt_tokens == tokens(TEXTS)
        ids[model] = [raw.headers["x-request-id"], listed.headers["x-request-id"]]

    # Base64 is the float32 values, little-endian, exactly as floats answers them.
    async with httpx.AsyncClient(base_url=stack.url, headers=HEADERS) as http:
        answers = [
            (
                await http.post(
                    "/v1/embeddings",
                    json={"model": "oai-embed", "input": TEXTS[:2], "encoding_format": form},
                )
            ).json()
            for form in ("base64", "float")
        ]
    encoded, floats = answers
    for packed, plain in zip(encoded["data"], floats["data"], strict=True):
        decoded = array.array("f")
        decoded.frombytes(base64.b64decode(packed["embedding"]))
        assert decoded.itemsize == 4
        assert list(decoded) == plain["embedding"]

    # What the fakes were sent: OpenAI's shape to /v1/embeddings, Ollama's to /api/embed.
    oai = [r for r in fake.requests if r.path == "/v1/embeddings"]
    olla = [r for r in fake.requests if r.path == "/api/embed"]
    assert {r.json["model"] for r in oai} == {"oai-embed"}
    assert {r.json["model"] for r in olla} == {"olla-embed"}
    assert ["hello world"] in [r.json["input"] for r in olla]

    every = [i for pair in ids.values() for i in pair]
    rows = await ledger(tmp_path / "metrics.sqlite3", every, len(every))
    assert {r[3] for r in rows} == {"succeeded"}
    assert {r[4] for r in rows} == {"embeddings"}
    by_id = {r[0]: r for r in rows}
    for model, (_, tokens, price) in expected.items():
        one, listed_id = (by_id[i] for i in ids[model])
        assert (one[2], one[5]) == (model, tokens(["hello world"]))
        assert (listed_id[2], listed_id[5]) == (model, tokens(TEXTS))
        assert listed_id[6] == pytest.approx(tokens(TEXTS) * price / 1e6)


async def test_failover_batching_and_errors(
    stack: Stack, fake: FakeUpstream, tmp_path: Path
) -> None:
    sdk = client(stack)
    # The first embedding model answers 503: its configured fallback serves every vector.
    fake.set("flaky-embed", Behavior(status=503))
    raw = await sdk.embeddings.with_raw_response.create(model="flaky-embed", input=TEXTS)
    served = raw.parse()
    assert served.model == "olla-embed"
    assert raw.headers["x-llmrouter-fallback"] == "true"
    for got, text in zip(served.data, TEXTS, strict=True):
        assert got.embedding == pytest.approx(fake_vector("olla-embed", text))
    failover_id = raw.headers["x-request-id"]

    # Ten inputs over a limit of three: four upstream calls, the vectors in input order.
    before = len([r for r in fake.requests if r.model == "oai-embed"])
    texts = [f"input number {i} {'word ' * i}" for i in range(10)]
    raw = await sdk.embeddings.with_raw_response.create(model="oai-embed", input=texts)
    batched = raw.parse()
    calls = [r for r in fake.requests if r.model == "oai-embed"][before:]
    assert sorted(len(r.json["input"]) for r in calls) == [1, 3, 3, 3]
    assert raw.headers["x-llmrouter-upstream-calls"] == "4"
    assert [d.index for d in batched.data] == list(range(10))
    for got, text in zip(batched.data, texts, strict=True):
        assert got.embedding == pytest.approx(fake_vector("oai-embed", text))
    assert batched.usage.prompt_tokens == fake_tokens(texts)
    batched_id = raw.headers["x-request-id"]

    rows = await ledger(tmp_path / "metrics.sqlite3", [failover_id, batched_id], 3)
    failover = [r[1:] for r in rows if r[0] == failover_id]
    assert [(a, m, s, d) for a, m, s, d, _, _ in failover] == [
        (1, "flaky-embed", "failed", "embeddings"),
        (2, "olla-embed", "succeeded", "embeddings"),
    ]
    assert failover[1][5] == pytest.approx(fake_tokens(TEXTS) * OLLA_PRICE / 1e6)
    (batch_row,) = [r[1:] for r in rows if r[0] == batched_id]
    assert batch_row[4] == fake_tokens(texts)
    assert math.isclose(batch_row[5], fake_tokens(texts) * OAI_PRICE / 1e6, rel_tol=1e-9)

    # Errors in OpenAI's shape, naming the parameter.
    for kwargs, param, status in (
        ({"model": "oai-embed", "input": []}, "input", 400),
        ({"model": "oai-embed", "input": [[1, 2, 3]]}, "input", 400),
        ({"model": "oai-embed", "input": ["ok", ""]}, "input[1]", 400),
        ({"model": "oai-embed", "input": "x", "dimensions": 0}, "dimensions", 400),
        ({"model": "sim-small", "input": "x"}, "model", 400),
        ({"model": "no-such-model", "input": "x"}, "model", 404),
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.embeddings.create(**kwargs)
        assert caught.value.status_code == status, kwargs
        body: Any = caught.value.body
        assert body["param"] == param, (kwargs, body)

    # A chat request never reaches an embedding model.
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(
            model="oai-embed", messages=[{"role": "user", "content": "hi"}]
        )

    # The alias without /v1 serves the same door.
    async with httpx.AsyncClient(base_url=stack.url, headers=HEADERS) as http:
        bare = await http.post("/embeddings", json={"model": "sim-embed", "input": "hi"})
    assert bare.status_code == 200
    assert bare.json()["data"][0]["embedding"] == pytest.approx(simulated("hi"), abs=1e-7)

    # /v1/models says which models embed.
    listed = {m["id"]: m for m in (await sdk.models.list()).model_dump()["data"]}
    assert listed["oai-embed"]["capabilities"]["embeddings"] is True
    assert listed["oai-embed"]["max_inputs_per_request"] == 3
    assert listed["sim-embed"]["dimensions"] == 32
    assert listed["sim-small"]["capabilities"]["embeddings"] is False


class Step(BaseModel):
    explanation: str
    output: int | None


class Solution(BaseModel):
    steps: list[Step]
    final_answer: float
    confident: bool


async def test_the_sdk_parse_helpers_validate_a_simulated_models_json(stack: Stack) -> None:
    sdk = client(stack)
    chat = await sdk.chat.completions.parse(
        model="sim-small",
        messages=[{"role": "user", "content": "Solve 8x + 7 = -23"}],
        response_format=Solution,
    )
    parsed = chat.choices[0].message.parsed
    assert isinstance(parsed, Solution)
    assert parsed.steps  # the SDK's strict schema requires every field
    again = await sdk.chat.completions.parse(
        model="sim-small",
        messages=[{"role": "user", "content": "Solve 8x + 7 = -23"}],
        response_format=Solution,
    )
    assert again.choices[0].message.parsed == parsed  # seeded by the request
    answer = await sdk.responses.parse(
        model="sim-small", input="Solve 2x = 4", text_format=Solution
    )
    assert isinstance(answer.output_parsed, Solution)
    async with sdk.chat.completions.stream(
        model="sim-small",
        messages=[{"role": "user", "content": "Solve 3x = 9"}],
        response_format=Solution,
    ) as stream:
        streamed = await stream.get_final_completion()
    assert isinstance(streamed.choices[0].message.parsed, Solution)
