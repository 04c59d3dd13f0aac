"""A streamed chunk too large to send ends the call, and the upstream stream with it, inside
the call: the attempt is over (its span ended, cancelled, its usage row made) before the call's
own span ends, not whenever the event loop gets round to finalizing an abandoned generator."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_status import rpc_status
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, router_service_pb2
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

LIMIT = 4096
RPC = "llmrouter.v1.RouterService/StreamComplete"


async def test_an_oversized_chunk_closes_the_upstream_stream_within_the_call(
    spans: InMemorySpanExporter,
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: tuple[FakeMetrics, Any],
) -> None:
    # Four pieces of 5000 characters, a minute apart: the first is beyond the 4 KiB limit, and
    # the upstream would keep its stream open for minutes unless the router closes it.
    upstream.set("m", Behavior(text="x" * 20_000, chunks=4, chunk_delay_s=60.0))
    _, stub = await make_router(
        (model("m", "oai"),), ("m",), max_response_bytes=LIMIT, max_receive_message_bytes=LIMIT
    )
    chat = chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for _ in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat)):
            pass
    error = failed.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)
    assert status is not None
    assert "RESPONSE_TOO_LARGE" in str(status.details)
    # The upstream sees the router hang up.
    await upstream.wait_disconnects(1, within_s=2.0)
    # The attempt is cancelled and ended within the call, as a trace viewer shows it.
    await wait_for(lambda: any(s.name == RPC for s in spans.get_finished_spans()))
    await wait_for(lambda: any(s.name == "chat m" for s in spans.get_finished_spans()))
    finished = [s.name for s in spans.get_finished_spans()]
    assert finished.index("chat m") < finished.index(RPC), finished
    (call,) = [s for s in spans.get_finished_spans() if s.name == RPC]
    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    assert attempt.end_time is not None
    assert call.end_time is not None
    assert attempt.end_time <= call.end_time
    # And its usage row is shipped (cancelled: the answer never reached the caller).
    records = fake_metrics[0].records
    await wait_for(lambda: len(records) == 1)
    (record,) = records.values()
    assert record.model == "m"
    assert record.error_type == "CANCELLED"
