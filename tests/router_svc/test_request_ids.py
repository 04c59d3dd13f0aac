"""Request ids through a real router: generated for every request, never the client's, which is
kept as ``client_request_id`` on each usage record; errors name the id they end."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

ONE_TRY = RetryConfig(attempts_per_model=1)
GENERATED = re.compile(r"[0-9a-f]{32}")


def chat(**kwargs: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")], **kwargs
    )


def error_request_id(error: grpc.aio.AioRpcError) -> str | None:
    """The ``requestId`` of the error's ErrorInfo, None when it has none."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.metadata.get("requestId")
    return None


async def test_a_repeated_client_id_still_gives_one_record_per_attempt(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    _, stub = await make_router((model("a"),), ("a",), retry=ONE_TRY)
    request = chat(client_request_id="same")

    unary = await asyncio.gather(
        *(stub.Complete(router_service_pb2.CompleteRequest(chat=request)) for _ in range(3))
    )
    streamed = [
        [
            m
            async for m in stub.StreamComplete(
                router_service_pb2.StreamCompleteRequest(chat=request)
            )
        ]
        for _ in range(2)
    ]

    ids = [r.id for r in unary] + [s[0].start.id for s in streamed]
    assert all(GENERATED.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == 5
    assert len(upstream.requests) == 5
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 5)
    assert sorted(metrics.records) == sorted(f"{i}:1" for i in ids)
    assert {(r.request_id, r.client_request_id) for r in metrics.records.values()} == {
        (i, "same") for i in ids
    }


async def test_a_failed_request_names_the_id_its_records_carry(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior(status=503))
    _, stub = await make_router((model("a"), model("b")), ("a", "b"), retry=ONE_TRY)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(client_request_id="c1")))

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    request_id = error_request_id(caught.value)
    assert request_id is not None
    assert GENERATED.fullmatch(request_id)
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    assert sorted(metrics.records) == [f"{request_id}:1", f"{request_id}:2"]
    assert {r.client_request_id for r in metrics.records.values()} == {"c1"}


async def test_a_failed_stream_names_its_id_too(make_router: Any, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(status=400, error_message="bad"))
    _, stub = await make_router((model("a"),), ("a",), retry=ONE_TRY)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat())):
            pass

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request_id = error_request_id(caught.value)
    assert request_id is not None
    assert GENERATED.fullmatch(request_id)


async def test_a_request_refused_before_any_attempt_names_no_id(make_router: Any) -> None:
    _, stub = await make_router((model("a"),), ("a",))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(model="gpt-9")))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_request_id(caught.value) is None  # no usage record to point at
