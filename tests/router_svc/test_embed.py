"""RouterService.Embed through a real router over gRPC, against the fake upstream's OpenAI and
Ollama embeddings endpoints over HTTP (and the simulated embedding model): batching, failover
without mixing models, usage records, and chat and embedding models kept apart."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2
from router_svc.config import CategoryConfig, ModelConfig, ProviderConfig, RetryConfig
from router_svc.providers.simulated import unit_vector
from tests.fakes import Behavior, FakeUpstream
from tests.fakes._embeddings import fake_vector

from .conftest import FakeMetrics, model, wait_for
from .test_model_fallbacks import field_violations

ONE_TRY = RetryConfig(attempts_per_model=1)
PRICE = 0.02  # USD per million input tokens
SUCCEEDED = metrics_service_pb2.USAGE_STATUS_SUCCEEDED
FAILED = metrics_service_pb2.USAGE_STATUS_FAILED


def embedder(name: str, provider: str = "oai", **kwargs: Any) -> ModelConfig:
    fields: dict[str, Any] = dict(
        embedding=True,
        input_price_per_million=PRICE,
        output_price_per_million=0.0,
        tools=False,
        context_window=0,
    )
    fields.update(kwargs)
    return model(name, provider, **fields)


MODELS = (
    model("chat"),
    embedder("emb", max_inputs_per_request=3),
    embedder("emb-b", "olla", max_inputs_per_request=2, input_price_per_million=0.0),
    embedder("small", dimensions=4),
)


def embed(inputs: list[str], **kwargs: Any) -> router_service_pb2.EmbedRequest:
    return router_service_pb2.EmbedRequest(
        model=str(kwargs.pop("model", "emb")), inputs=inputs, **kwargs
    )


# The fake's coordinates are multiples of 1/128: exact in float32, so compared exactly.
def vectors(response: router_service_pb2.EmbedResponse) -> list[list[float]]:
    assert [e.index for e in response.embeddings] == list(range(len(response.embeddings)))
    return [list(e.values) for e in response.embeddings]


def records(metrics: FakeMetrics, request_id: str) -> list[Any]:
    rows = [r for r in metrics.records.values() if r.request_id == request_id]
    return sorted(rows, key=lambda r: r.attempt)


async def test_ten_inputs_over_a_limit_of_three_are_four_calls_in_order_and_one_record(
    make_router: Any, upstream: FakeUpstream, fake_metrics: tuple[FakeMetrics, Any]
) -> None:
    _, stub = await make_router(MODELS, ("chat",))
    texts = [f"text number {i}" for i in range(10)]  # three words: three tokens each
    response = await stub.Embed(embed(texts, caller=chat_pb2.Caller(api_key_id="k1")))

    calls = [r for r in upstream.requests if r.path == "/v1/embeddings"]
    slices = {tuple(texts[i : i + 3]) for i in range(0, 10, 3)}
    assert len(calls) == 4
    assert {tuple(r.json["input"]) for r in calls} == slices
    assert vectors(response) == [fake_vector("emb", t) for t in texts]
    assert (response.model, response.provider, response.upstream_calls) == ("emb", "oai", 4)
    assert response.usage.prompt_tokens == response.usage.total_tokens == 30
    assert response.usage.cost_usd == pytest.approx(30 * PRICE / 1e6)

    metrics = fake_metrics[0]
    await wait_for(lambda: records(metrics, response.request_id))
    (row,) = records(metrics, response.request_id)
    assert (row.front_door, row.model, row.status) == ("embeddings", "emb", SUCCEEDED)
    assert (row.prompt_tokens, row.completion_tokens, row.api_key_id) == (30, 0, "k1")
    assert row.cost_usd == pytest.approx(30 * PRICE / 1e6)


async def test_a_failing_first_model_fails_over_and_every_vector_is_the_second_models(
    make_router: Any, upstream: FakeUpstream, fake_metrics: tuple[FakeMetrics, Any]
) -> None:
    _, stub = await make_router(
        MODELS,
        ("chat",),
        retry=ONE_TRY,
        categories=(CategoryConfig("embeddings", ("emb", "emb-b")),),
    )
    # Of emb's two calls (3 + 2 inputs) the second to arrive fails: the whole request moves
    # to emb-b, whose limit of 2 makes it three calls.
    upstream.set("emb", Behavior(), Behavior(status=503), Behavior())
    texts = [f"input {i}" for i in range(5)]
    response = await stub.Embed(embed(texts, model="auto"))

    assert response.model == "emb-b"
    assert response.fallback
    assert vectors(response) == [fake_vector("emb-b", t) for t in texts]
    assert [(a.model, a.status) for a in response.attempts] == [
        ("emb", chat_pb2.ATTEMPT_STATUS_FAILED),
        ("emb-b", chat_pb2.ATTEMPT_STATUS_SUCCEEDED),
    ]
    assert response.attempts[0].error_type == "UPSTREAM_UNAVAILABLE"
    assert [len(r.json["input"]) for r in upstream.requests if r.path == "/api/embed"] == [2, 2, 1]
    assert response.usage.prompt_tokens == 10
    assert response.usage.cost_usd == 0.0

    metrics = fake_metrics[0]
    await wait_for(lambda: len(records(metrics, response.request_id)) == 2)
    failed, served = records(metrics, response.request_id)
    assert (failed.model, failed.status, served.model, served.fallback) == (
        "emb",
        FAILED,
        "emb-b",
        True,
    )
    assert {failed.front_door, served.front_door} == {"embeddings"}
    # emb's first call answered before the failure: its tokens are billed to that attempt.
    assert failed.prompt_tokens > 0
    assert failed.cost_usd == pytest.approx(failed.prompt_tokens * PRICE / 1e6)


@pytest.mark.parametrize(
    "behavior",
    [
        Behavior(status=429, retry_after="0"),
        Behavior(status=500),
        Behavior(malformed=True),
        Behavior(raw_body=b'{"object": "list", "data": [], "model": "emb"}'),
    ],
    ids=["429", "500", "not-json", "no-vectors"],
)
async def test_failures_fail_over_to_the_next_embedding_model(
    make_router: Any, upstream: FakeUpstream, behavior: Behavior
) -> None:
    _, stub = await make_router(MODELS, ("chat",), retry=ONE_TRY)
    upstream.set("emb", behavior)
    response = await stub.Embed(embed(["hello"], fallback_models=["emb-b"]))
    assert response.model == "emb-b"
    assert vectors(response) == [fake_vector("emb-b", "hello")]


async def test_a_stalled_model_times_out_and_fails_over(
    make_router: Any, upstream: FakeUpstream
) -> None:
    retry = RetryConfig(attempts_per_model=1, attempt_timeout_s=0.5)
    _, stub = await make_router(MODELS, ("chat",), retry=retry)
    upstream.set("emb", Behavior(stall=True))
    response = await stub.Embed(embed(["a", "b", "c", "d"], fallback_models=["emb-b"]))
    assert response.model == "emb-b"
    assert response.attempts[0].error_type == "UPSTREAM_TIMEOUT"
    await upstream.wait_disconnects(2)  # both of emb's calls were cut off


async def test_chat_and_embedding_models_never_serve_each_other(make_router: Any) -> None:
    _, stub = await make_router(
        MODELS, ("chat",), categories=(CategoryConfig("mixed", ("emb", "chat")),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embed(["hi"], model="chat"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["embed.model"]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Complete(
            router_service_pb2.CompleteRequest(
                chat=chat_pb2.ChatRequest(
                    model="emb", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="x")]
                )
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "embedding model" in (caught.value.details() or "")

    # A chain holding both: chat takes the chat model, embeddings the embedding model.
    decision = await stub.Route(
        router_service_pb2.RouteRequest(
            chat=chat_pb2.ChatRequest(
                model="mixed", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="x")]
            )
        )
    )
    assert [c.model for c in decision.candidates] == ["chat"]
    assert [s.model for s in decision.skipped_models] == ["emb"]
    response = await stub.Embed(embed(["hi"], model="mixed"))
    assert response.model == "emb"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"inputs": []}, "embed.inputs"),
        ({"inputs": ["a", ""]}, "embed.inputs[1]"),
        ({"inputs": ["a"], "dimensions": 0}, "embed.dimensions"),
        ({"inputs": ["a"], "model": "nope"}, "embed.model"),
        ({"inputs": ["a"], "fallback_models": ["nope"]}, "embed.fallback_models[0]"),
    ],
)
async def test_bad_requests_name_the_field(
    make_router: Any, request_fields: dict[str, Any], field: str
) -> None:
    _, stub = await make_router(MODELS, ("chat",))
    inputs = request_fields.pop("inputs")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embed(inputs, **request_fields))
    assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert field_violations(caught.value) == [field]


async def test_dimensions_are_asked_upstream_and_a_model_with_fewer_is_passed_over(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router(MODELS, ("chat",))
    response = await stub.Embed(embed(["abc"], model="small", dimensions=3))
    assert vectors(response) == [fake_vector("small", "abc", 3)]
    assert upstream.requests[-1].json["dimensions"] == 3

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embed(["abc"], model="small", dimensions=5))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["embed.dimensions"]


async def test_the_simulated_embedding_model_serves_unit_vectors(make_router: Any) -> None:
    sim = ModelConfig(
        name="sim-embed",
        provider="sim",
        embedding=True,
        dimensions=16,
        input_price_per_million=0.0,
        output_price_per_million=0.0,
    )
    providers = (ProviderConfig(name="sim", kind="simulated", local=True),)
    _, stub = await make_router((model("chat", "sim"), sim), ("chat",), providers=providers)
    response = await stub.Embed(embed(["same text", "other", "same text"], model="sim-embed"))
    got = vectors(response)
    assert got[0] == got[2]
    assert got[0] != got[1]
    assert all(len(v) == 16 and math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in got)
    assert got[1] == pytest.approx(unit_vector("sim-embed", "other", 16), rel=1e-6)
    # The router's estimate: four characters a token, per input.
    assert response.usage.prompt_tokens == 3 + 2 + 3


async def test_attempt_spans_are_embeddings_operations(
    make_router: Any, spans: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router(MODELS, ("chat",))
    await stub.Embed(embed(["a", "b", "c", "d"]))
    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "embeddings emb"]
    assert attempt.attributes["gen_ai.operation.name"] == "embeddings"
    assert "gen_ai.request.max_tokens" not in attempt.attributes
    assert attempt.attributes["gen_ai.usage.input_tokens"] == 4


async def test_a_keys_allowed_models_bind_embeddings_as_they_bind_chat(
    make_router: Any, upstream: FakeUpstream
) -> None:
    """A virtual key allowed only ``emb-b``: naming ``emb`` (or a fallback of it) is
    PERMISSION_DENIED naming the field; ``auto`` keeps only ``emb-b`` of every embedding model."""
    _, stub = await make_router(MODELS, ("chat",))
    caller = chat_pb2.Caller(api_key_id="vk_1", allowed_models=["emb-b"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Embed(embed(["hello"], model="emb", caller=caller))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'emb'" in (refused.value.details() or "")
    assert field_violations(refused.value) == ["embed.model"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Embed(embed(["hello"], model="emb-b", fallback_models=["emb"], caller=caller))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert field_violations(refused.value) == ["embed.fallback_models[0]"]
    answer = await stub.Embed(embed(["hello"], model="auto", caller=caller))
    assert answer.model == "emb-b"
    assert [r.path for r in upstream.requests] == ["/api/embed"]  # emb was never called
