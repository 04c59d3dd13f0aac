"""``POST /v1/embeddings`` on a real gateway over a fake RouterService: the request as the
router gets it, OpenAI's answer as floats and as base64 (little-endian float32, decoded as the
openai SDK does), errors naming the parameter, router errors mapped to the body's paths, and
the key's tokens-per-minute counting input tokens."""

from __future__ import annotations

import array
import base64
import struct
from typing import Any

import grpc
import httpx
import openai
import pytest

from llmrouter.token_estimate import prompt_tokens

from .support import AUTH, TEST_KEY, Failure, FakeRouter, RunningGateway, StartGateway, fake_vector

URL = "/v1/embeddings"


async def test_the_request_reaches_the_router_and_floats_come_back(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await client.post(
        URL,
        json={
            "model": "emb",
            "input": ["one", "two words"],
            "dimensions": 4,
            "user": "u-1",
            "metadata": {"job": "index"},
            "fallbacks": ["emb-b"],
            "llmrouter": {"task_type": "rag", "category": "embeddings"},
        },
        headers={"x-llmrouter-source": "indexer", "x-request-id": "mine-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": fake_vector("one")},
            {"object": "embedding", "index": 1, "embedding": fake_vector("two words")},
        ],
        "model": "emb",
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    }
    assert response.headers["x-request-id"] == "emb-req-1"
    assert response.headers["x-llmrouter-upstream-calls"] == "1"
    (sent,) = router.embed_requests
    assert (sent.model, list(sent.inputs), sent.dimensions) == ("emb", ["one", "two words"], 4)
    assert (sent.user, dict(sent.metadata), list(sent.fallback_models)) == (
        "u-1",
        {"job": "index"},
        ["emb-b"],
    )
    assert (sent.front_door, sent.caller.source, sent.client_request_id) == (
        "embeddings",
        "indexer",
        "mine-1",
    )
    assert (sent.routing.task_type, sent.routing.category) == ("rag", "embeddings")
    assert sent.caller.api_key_id  # the key that authenticated it


async def test_base64_is_little_endian_float32_as_the_sdk_decodes_it(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    raw = await client.post(
        URL, json={"model": "emb", "input": "a b c", "encoding_format": "base64"}
    )
    packed = base64.b64decode(raw.json()["data"][0]["embedding"])
    assert struct.unpack(f"<{len(packed) // 4}f", packed) == tuple(fake_vector("a b c"))
    assert array.array("f", packed).tolist() == fake_vector("a b c")

    sdk = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_KEY, max_retries=0)
    # The SDK's default: it asks for base64 and decodes it.
    default = await sdk.embeddings.create(model="emb", input=["a b c", "d"])
    assert [d.embedding for d in default.data] == [fake_vector("a b c"), fake_vector("d")]
    floats = await sdk.embeddings.create(model="emb", input="a b c", encoding_format="float")
    assert floats.data[0].embedding == fake_vector("a b c")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "emb"}, "input"),
        ({"model": "emb", "input": ""}, "input"),
        ({"model": "emb", "input": []}, "input"),
        ({"model": "emb", "input": ["a", ""]}, "input[1]"),
        ({"model": "emb", "input": ["a", 7]}, "input"),
        ({"model": "emb", "input": [1, 2, 3]}, "input"),
        ({"model": "emb", "input": [[1, 2], [3]]}, "input"),
        ({"model": "emb", "input": ["a", None]}, "input[1]"),
        ({"model": "emb", "input": {"text": "a"}}, "input"),
        ({"model": "emb", "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "emb", "input": "a", "dimensions": "8"}, "dimensions"),
        ({"model": "emb", "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "emb", "input": "a", "user": 5}, "user"),
        ({"model": "emb", "input": "a", "stream": True}, "stream"),
        ({"model": "emb", "input": "a", "llmrouter": {"cache": True}}, "llmrouter.cache"),
        ({"model": "emb", "input": "a", "models": ["b"], "fallbacks": ["c"]}, "fallbacks"),
    ],
)
async def test_bad_requests_are_400_naming_the_parameter(
    client: httpx.AsyncClient, router: FakeRouter, body: dict[str, Any], param: str
) -> None:
    response = await client.post(URL, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert router.embed_requests == []


@pytest.mark.parametrize(
    ("body", "field", "status", "param"),
    [
        ({"input": ["a", "b", "c"]}, "embed.inputs[2]", 400, "input[2]"),
        ({"input": "a"}, "embed.inputs[0]", 400, "input"),
        ({"input": "a"}, "embed.model", 400, "model"),
        ({"input": "a", "dimensions": 9}, "embed.dimensions", 400, "dimensions"),
        ({"input": "a", "models": ["x", "y"]}, "embed.fallback_models[1]", 400, "models[1]"),
    ],
)
async def test_router_fields_are_named_as_in_the_body(
    client: httpx.AsyncClient,
    router: FakeRouter,
    body: dict[str, Any],
    field: str,
    status: int,
    param: str,
) -> None:
    router.failure = Failure(grpc.StatusCode.INVALID_ARGUMENT, "no", reason="X", field=field)
    response = await client.post(URL, json={"model": "emb", **body})
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


async def test_an_unknown_model_is_404_and_router_outages_are_not_400(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(
        grpc.StatusCode.NOT_FOUND,
        "model 'nope' does not exist",
        reason="MODEL_NOT_FOUND",
        field="embed.model",
    )
    response = await client.post(URL, json={"model": "nope", "input": "a"})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"
    router.failure = Failure(grpc.StatusCode.UNAVAILABLE, "all failed", reason="ALL_MODELS_FAILED")
    response = await client.post(URL, json={"model": "emb", "input": "a"})
    assert response.status_code == 503


async def test_the_alias_without_v1_answers_the_same(client: httpx.AsyncClient) -> None:
    response = await client.post("/embeddings", json={"model": "emb", "input": "hi"})
    assert response.status_code == 200
    assert response.json()["data"][0]["embedding"] == fake_vector("hi")


async def test_tokens_per_minute_count_the_inputs(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    gateway = await start_gateway(rate_limit_tpm=20)
    texts = ["x" * 20, "y" * 20]  # five tokens each by the estimate
    estimate = sum(prompt_tokens(len(t), 0) for t in texts)
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        first = await http.post(URL, json={"model": "emb", "input": texts})
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-tokens"] == "20"
        assert first.headers["x-ratelimit-remaining-tokens"] == str(20 - estimate)
        too_large = await http.post(URL, json={"model": "emb", "input": ["z" * 200]})
    assert too_large.status_code == 429
    error = too_large.json()["error"]
    assert (error["type"], error["code"]) == ("tokens", "rate_limit_exceeded")
    assert len(router.embed_requests) == 1
