"""Models' and providers' rpm / tpm quotas through a real router over gRPC, against the fake
upstream over HTTP: a model at its quota is passed over before its upstream would answer 429,
Route shows why, the request span notes it, and every model at its quota is a 429-like
RESOURCE_EXHAUSTED with a retry delay."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, router_service_pb2
from tests.fakes import Behavior, FakeUpstream

from .conftest import fake_providers, model


def chat(**kwargs: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=str(kwargs.pop("model", "auto")),
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")],
        **kwargs,
    )


def complete(**kwargs: Any) -> router_service_pb2.CompleteRequest:
    return router_service_pb2.CompleteRequest(chat=chat(**kwargs))


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, float | None]:
    """The ErrorInfo reason and the RetryInfo delay (seconds) of a failed call."""
    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    reason, delay = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return reason, delay


async def test_a_model_at_its_rpm_is_passed_over_before_its_upstream_says_429(
    make_router: Any, upstream: FakeUpstream, spans: InMemorySpanExporter
) -> None:
    # The provider itself would answer 429 from a's third request on.
    upstream.set("a", Behavior(), Behavior(), Behavior(status=429, retry_after="30"))
    _, stub = await make_router((model("a", rpm=2), model("b")), ("a", "b"))
    replies = [await stub.Complete(complete()) for _ in range(4)]
    assert [(r.model, r.fallback) for r in replies] == [
        ("a", False),
        ("a", False),
        ("b", True),
        ("b", True),
    ]
    assert [a.model for a in replies[2].attempts] == ["b"]  # a was never called
    assert upstream.calls("a") == 2
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
    assert [c.model for c in decision.candidates] == ["b"]
    (skipped,) = decision.skipped_models
    assert (skipped.model, skipped.reason) == ("a", router_service_pb2.SKIP_REASON_RATE_LIMIT)
    assert skipped.detail.startswith("model a quota 2 RPM reached (2 used; room again in ")
    # Route counts nothing: a is still passed over, not refused twice over.
    events = [
        dict(event.attributes or {})
        for span in spans.get_finished_spans()
        if span.name == "llmrouter.v1.RouterService/Complete"
        for event in span.events
        if event.name == "llmrouter.rate_limit_reached"
    ]
    assert len(events) == 2
    assert events[0]["llmrouter.model"] == "a"
    assert events[0]["llmrouter.rate_limit.subject"] == "model a"
    assert events[0]["llmrouter.rate_limit.kind"] == "requests"
    assert events[0]["llmrouter.rate_limit.limit"] == 2
    assert 0 < float(events[0]["llmrouter.retry_after_s"]) <= 60  # type: ignore[arg-type]


async def test_every_model_at_its_quota_is_resource_exhausted_with_a_delay(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # Both models share their provider's limit of 2 requests a minute.
    providers = tuple(replace(p, rpm=2) if p.name == "oai" else p for p in fake_providers(upstream))
    _, stub = await make_router((model("a"), model("b")), ("a", "b"), providers=providers)
    assert [(await stub.Complete(complete())).model for _ in range(2)] == ["a", "a"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Complete(complete())
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reason, delay = error_details(raised.value)
    assert reason == "ALL_MODELS_RATE_LIMITED"
    assert delay is not None
    assert 0 < delay <= 60
    # The quota is named; the provider id is not (router.expose_provider_in_errors is off).
    assert "quota 2 RPM reached" in (raised.value.details() or "")
    assert "oai" not in (raised.value.details() or "")
    assert upstream.calls("a") + upstream.calls("b") == 2


async def test_token_quota_reserves_the_estimate_and_keeps_the_reported_usage(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # t takes 600 tokens a minute; each answer reports 4 completion tokens (the fake's default).
    _, stub = await make_router((model("t", tpm=600), model("b")), ("t", "b"))
    # Larger than the whole quota: t can never take it.
    big = await stub.Complete(complete(max_tokens=1000))
    assert (big.model, big.fallback) == ("b", True)
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat(max_tokens=1000)))
    (skipped,) = decision.skipped_models
    assert "quota 600 TPM is smaller than this request" in skipped.detail
    # 300 output tokens are reserved, then corrected to the usage: a second such request
    # fits, which it would not if the first kept its whole reservation (2 x 300+ > 600).
    first = await stub.Complete(complete(max_tokens=300))
    assert first.model == "t"
    assert first.usage.prompt_tokens + first.usage.completion_tokens < 50
    second = await stub.Complete(complete(max_tokens=300))
    assert second.model == "t"
    assert upstream.calls("t") == 2
