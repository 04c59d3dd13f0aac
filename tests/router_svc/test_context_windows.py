"""A model's context window is what its config says, else what genai-prices lists for its
upstream model, else unknown: a request is then never refused for its size by the router (the
upstream's own context-length error decides, and the chain moves on), and ListModels says 0."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from llmrouter.config import ConfigError
from llmrouter.v1 import router_service_pb2
from router_svc.config import ModelConfig, load_config
from tests.fakes import Behavior, FakeUpstream

from .test_failover import chat

# About 25,000 tokens by the router's estimate (four characters a token): three times the
# 8,192 every model used to get when its window was not configured.
PROMPT_100KB = "lorem ipsum dolor sit amet, " * (100_000 // 28)
CONTEXT_ERROR = Behavior(
    status=400, error_code="context_length_exceeded", error_message="maximum context length"
)


def unconfigured(name: str, provider: str = "oai", **kwargs: Any) -> ModelConfig:
    """A model as a config file gives it when it says nothing of its window."""
    return ModelConfig(
        name=name,
        provider=provider,
        input_price_per_million=1.0,
        output_price_per_million=2.0,
        **kwargs,
    )


async def test_a_100kb_prompt_to_a_model_with_no_window_reaches_the_upstream(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router((unconfigured("mine"),), ("mine",))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(PROMPT_100KB)))
    assert reply.message.content == "Hello from mine."
    (request,) = upstream.requests
    assert request.json["messages"][0]["content"] == PROMPT_100KB


async def test_a_configured_window_still_refuses_what_does_not_fit(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router((unconfigured("small", context_window=8192),), ("small",))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(PROMPT_100KB)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "window is 8192" in (caught.value.details() or "")
    assert upstream.requests == []


async def test_a_window_genai_prices_lists_is_used_and_named(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # gpt-4o-mini: 128,000 tokens in genai-prices' table; about 150,000 asked for here.
    models = (unconfigured("mini", upstream_model="gpt-4o-mini"), unconfigured("mine"))
    _, stub = await make_router(models, ("mini", "mine"))
    listed = await stub.ListModels(router_service_pb2.ListModelsRequest())
    assert {m.name: m.context_window for m in listed.models} == {"mini": 128_000, "mine": 0}
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat("word " * 120_000)))
    assert [c.model for c in decision.candidates] == ["mine"]
    (skip,) = decision.skipped_models
    assert skip.reason == router_service_pb2.SKIP_REASON_CONTEXT_WINDOW
    assert "window is 128000 (genai-prices)" in skip.detail


async def test_local_models_take_no_window_from_genai_prices(make_router: Any) -> None:
    # A local server's window is its own setting (Ollama's num_ctx), not the model's.
    _, stub = await make_router((unconfigured("llama", "olla", upstream_model="gpt-4o-mini"),), ())
    listed = await stub.ListModels(router_service_pb2.ListModelsRequest())
    assert [(m.name, m.context_window) for m in listed.models] == [("llama", 0)]


async def test_after_a_context_error_an_unknown_window_is_still_tried(
    make_router: Any, upstream: FakeUpstream
) -> None:
    """A known window that overflowed rules out models no larger; a model whose window is
    unknown may be larger, so its upstream is asked."""
    upstream.set("a", CONTEXT_ERROR)
    models = (
        unconfigured("a", context_window=4096),
        unconfigured("b", context_window=4096),
        unconfigured("u"),
    )
    _, stub = await make_router(models, ("a", "b", "u"))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert [a.model for a in reply.attempts] == ["a", "u"]


async def test_an_unknown_window_that_overflowed_rules_out_no_other_model(
    make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("u", CONTEXT_ERROR)
    models = (unconfigured("u"), unconfigured("k", context_window=4096))
    _, stub = await make_router(models, ("u", "k"))
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert [a.model for a in reply.attempts] == ["u", "k"]


def test_context_window_config() -> None:
    assert ModelConfig(name="m", provider="p").context_window == 0
    document = {
        "router": {
            "providers": [{"name": "p", "kind": "simulated"}],
            "models": [{"name": "m", "provider": "p", "context_window": -1}],
            "default_chain": ["m"],
        }
    }
    with pytest.raises(ConfigError, match=r"router\.models\[0\]\.context_window"):
        load_config(document=document, environ={})
