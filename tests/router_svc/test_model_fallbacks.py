"""A named model's fallbacks (configured, or the request's ``fallback_models``) through a real
router over gRPC, against the fake upstream over HTTP."""

from __future__ import annotations

import tomllib
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter import field_limits
from llmrouter.config import ConfigError
from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig, load_config
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

ONE_TRY = RetryConfig(attempts_per_model=1)
# "a" falls back to "b" (by its alias) then "c"; "small" has a small window, "notools" no
# tools.
MODELS = (
    model("a", fallbacks=("bee", "c")),
    model("b", "anth", aliases=("bee",)),
    model("c", "olla"),
    model("d"),
    model("small", context_window=400),
    model("notools", tools=False),
)


def chat(text: str = "hello", **kwargs: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=str(kwargs.pop("model", "auto")),
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)],
        **kwargs,
    )


def complete(**kwargs: Any) -> router_service_pb2.CompleteRequest:
    return router_service_pb2.CompleteRequest(chat=chat(**kwargs))


def route(**kwargs: Any) -> router_service_pb2.RouteRequest:
    return router_service_pb2.RouteRequest(chat=chat(**kwargs))


def chain(decision: router_service_pb2.RouteResponse) -> list[tuple[str, str]]:
    return [(c.model, c.reason) for c in decision.candidates]


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_named_model_fails_over_to_config_then_request_fallbacks(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """One router, scenarios one after another: "a" answers 503 throughout."""
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior(status=503), Behavior())  # fails once, then answers
    running, stub = await make_router(MODELS, ("d",), retry=ONE_TRY, prometheus_port=free_port())

    decision = await stub.Route(route(model="a"))
    assert chain(decision) == [
        ("a", "chain position 1"),
        ("b", "fallback 1 (config)"),
        ("c", "fallback 2 (config)"),
    ]
    # Configured fallbacks, in order (b fails once, c answers).
    first = await stub.Complete(complete(model="a"))
    assert (first.model, first.fallback) == ("c", True)
    assert [(a.model, a.status) for a in first.attempts] == [
        ("a", chat_pb2.ATTEMPT_STATUS_FAILED),
        ("b", chat_pb2.ATTEMPT_STATUS_FAILED),
        ("c", chat_pb2.ATTEMPT_STATUS_SUCCEEDED),
    ]
    # The request's list replaces the configured one.
    second = await stub.Complete(complete(model="a", fallback_models=["d", "b"]))
    assert [a.model for a in second.attempts] == ["a", "d"]
    decision = await stub.Route(route(model="a", fallback_models=["d", "bee"]))
    assert chain(decision) == [
        ("a", "chain position 1"),
        ("d", "fallback 1 (request)"),
        ("b", "fallback 2 (request)"),
    ]
    # A stream fails over before its first token, to the request's fallback.
    chunks = [
        c
        async for c in stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat(model="a", fallback_models=["b"]))
        )
    ]
    assert (chunks[0].start.model, chunks[0].start.fallback) == ("b", True)
    assert chunks[-1].summary.model == "b"
    assert [a.model for a in chunks[-1].summary.attempts] == ["a", "b"]
    # Three failures in a row opened a's breaker: skipped, its fallbacks serve.
    decision = await stub.Route(route(model="a"))
    assert chain(decision) == [("b", "fallback 1 (config)"), ("c", "fallback 2 (config)")]
    assert [(s.model, s.reason) for s in decision.skipped_models] == [
        ("a", router_service_pb2.SKIP_REASON_BREAKER_OPEN)
    ]
    # The answer is a fallback from a (not a's first choice), in one attempt.
    fourth = await stub.Complete(complete(model="a"))
    assert [a.model for a in fourth.attempts] == ["b"]
    assert (fourth.model, fourth.fallback) == ("b", True)
    assert upstream.calls("a") == 3
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert 'llmrouter_fallbacks_total{reason="BREAKER_OPEN"} 1.0' in text

    # Usage: every attempt is a record, the fallback ones marked.
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 8)
    rows = sorted(
        (r.request_id, r.attempt, r.model, r.fallback, r.fallback_from)
        for r in metrics.records.values()
        if r.request_id == first.id
    )
    assert rows == [
        (first.id, 1, "a", False, ""),
        (first.id, 2, "b", True, "a"),
        (first.id, 3, "c", True, "b"),
    ]
    (skipped,) = [r for r in metrics.records.values() if r.request_id == fourth.id]
    assert (skipped.attempt, skipped.model, skipped.fallback) == (1, "b", True)
    assert (skipped.fallback_from, skipped.fallback_reason) == ("a", "BREAKER_OPEN")


async def test_fallbacks_after_an_auto_chain_and_filtered_like_any_candidate(
    make_router: Any,
) -> None:
    _, stub = await make_router(MODELS, ("d", "c"))

    # After the category's chain; a model already in it is not added again.
    decision = await stub.Route(route(fallback_models=["c", "small", "bee"]))
    assert chain(decision) == [
        ("d", "chain position 1"),
        ("c", "chain position 2"),
        ("small", "fallback 2 (request)"),
        ("b", "fallback 3 (request)"),
    ]
    # Filtered like any candidate: the window, the capabilities.
    tools = [chat_pb2.Tool(name="f")]
    long_text = "word " * 400
    decision = await stub.Route(
        route(text=long_text, model="c", fallback_models=["small", "notools", "d"], tools=tools)
    )
    assert chain(decision) == [("c", "chain position 1"), ("d", "fallback 3 (request)")]
    assert [(s.model, s.reason) for s in decision.skipped_models] == [
        ("small", router_service_pb2.SKIP_REASON_CONTEXT_WINDOW),
        ("notools", router_service_pb2.SKIP_REASON_MISSING_CAPABILITY),
    ]
    # Preferences order the chain, never the fallbacks: they stay after it, in order.
    cost = chat_pb2.RoutingOptions(preferences=chat_pb2.Preferences(cost=1.0))
    decision = await stub.Route(route(model="a", fallback_models=["d", "c"], routing=cost))
    assert [c.model for c in decision.candidates] == ["a", "d", "c"]
    # The named model listed again among its fallbacks is tried once.
    decision = await stub.Route(route(model="bee", fallback_models=["b", "c"]))
    assert [c.model for c in decision.candidates] == ["b", "c"]


async def test_the_final_error_names_the_fallbacks_never_tried_and_why(
    make_router: Any, upstream: FakeUpstream
) -> None:
    """One router, one request after another: "oa-a" and "oa-b" answer 503 throughout; each
    request lists fallbacks the decision left out (disabled, a capability, the window)."""
    upstream.set("oa-a", Behavior(status=503))
    upstream.set("oa-b", Behavior(status=503))
    models = (
        model("oa-a", fallbacks=("an-c",)),
        model("oa-b"),
        model("an-c", "anth", enabled=False),
        model("notools", tools=False),
        model("small", context_window=400),
    )
    _, stub = await make_router(models, ("oa-a",), retry=RetryConfig(attempts_per_model=2))

    # The reported case: a disabled configured fallback.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(complete(model="oa-a"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert info.value.details() == (
        "all 2 attempts failed (oa-a: UPSTREAM_UNAVAILABLE, oa-a: UPSTREAM_UNAVAILABLE; "
        "not tried: an-c: disabled by an operator or in config)"
    )
    # Neighbours: the request's fallbacks, one tried, two left out for the request's needs.
    tools = [chat_pb2.Tool(name="f")]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(
            complete(
                text="word " * 400,
                model="oa-b",
                fallback_models=["notools", "oa-a", "small"],
                tools=tools,
            )
        )
    assert info.value.details() == (
        "all 3 attempts failed (oa-b: UPSTREAM_UNAVAILABLE, oa-b: UPSTREAM_UNAVAILABLE, "
        "oa-a: UPSTREAM_UNAVAILABLE, oa-a: BREAKER_OPEN; not tried: "
        "notools: does not support tools, small: needs about 761 tokens, window is 400)"
    )
    # The third failure of each opened its circuit: a fallback skipped for that is named too.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(complete(model="oa-b", fallback_models=["oa-a"]))
    assert info.value.details().startswith(
        "all 1 attempts failed (oa-b: UPSTREAM_UNAVAILABLE, oa-b: BREAKER_OPEN; "
        "not tried: oa-a: circuit open, next probe in "
    )


@pytest.mark.parametrize(
    ("fallbacks", "field", "says"),
    [
        (["d", "gpt-9"], "chat.fallback_models[1]", "'gpt-9' does not exist"),
        ([""], "chat.fallback_models[0]", "model name of 1 to"),
        (["x" * 257], "chat.fallback_models[0]", "model name of 1 to"),
        (["d"] * (field_limits.FALLBACK_MODELS_MAX + 1), "chat.fallback_models", "at most"),
    ],
)
async def test_bad_fallback_models_are_invalid_argument(
    make_router: Any, upstream: FakeUpstream, fallbacks: list[str], field: str, says: str
) -> None:
    _, stub = await make_router(MODELS, ("d",))
    calls = (
        lambda: stub.Complete(complete(model="a", fallback_models=fallbacks)),
        lambda: stub.Route(route(fallback_models=fallbacks)),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert says in (info.value.details() or "")
        assert field_violations(info.value) == [field]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("fallbacks", "message"),
    [
        ('["nope"]', "router.models[0].fallbacks[0]: unknown model 'nope'"),
        ('["b", "a"]', "router.models[0].fallbacks[1]: names the model itself 'a'"),
        ('["b", "al"]', "router.models[0].fallbacks[1]: names the model itself 'al'"),
        ('["b", "bee"]', "router.models[0].fallbacks[1]: repeats a model 'bee'"),
    ],
)
def test_bad_configured_fallbacks_fail_at_start(fallbacks: str, message: str) -> None:
    toml = f"""
[router]
default_chain = ["a"]
[[router.providers]]
name = "sim"
kind = "simulated"
[[router.models]]
name = "a"
provider = "sim"
aliases = ["al"]
fallbacks = {fallbacks}
[[router.models]]
name = "b"
provider = "sim"
aliases = ["bee"]
"""
    with pytest.raises(ConfigError) as info:
        load_config(document=tomllib.loads(toml), environ={})
    assert str(info.value).startswith(message)
