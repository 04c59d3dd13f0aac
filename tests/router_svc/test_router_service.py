"""RouterService over real gRPC with the simulated provider and a fake metrics service."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, metrics_service_pb2, router_service_pb2, router_service_pb2_grpc

from .conftest import FakeMetrics, wait_for


def chat(text: str = "hi", **kwargs: object) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=str(kwargs.pop("model", "auto")),
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_complete_answers_from_simulated_provider(router_channel, fake_metrics) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hello there")))
    assert reply.model == "sim-small"
    assert reply.provider == "simulated"
    assert reply.message.role == chat_pb2.ROLE_ASSISTANT
    assert reply.message.content.startswith("[simulated sim-small]")
    assert reply.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert [(a.number, a.model, a.status) for a in reply.attempts] == [
        (1, "sim-small", chat_pb2.ATTEMPT_STATUS_SUCCEEDED)
    ]
    assert not reply.fallback
    # Deterministic: the same prompt gives the same text.
    again = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hello there")))
    assert again.message.content == reply.message.content
    assert again.id != reply.id

    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: len(metrics.records) == 2)
    record = metrics.records[f"{reply.id}:1"]
    assert record.model == "sim-small"
    assert record.status == metrics_service_pb2.USAGE_STATUS_SUCCEEDED
    assert record.prompt_tokens == reply.usage.prompt_tokens
    assert record.completion_tokens == reply.usage.completion_tokens
    assert record.local
    assert not record.streamed


async def test_explicit_model_and_unknown_model(router_channel) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    reply = await stub.Complete(
        router_service_pb2.CompleteRequest(chat=chat(model="sim-large", client_request_id="req-1"))
    )
    assert reply.model == "sim-large"
    # The router's own id, never the client's (tests/router_svc/test_request_ids.py).
    assert len(reply.id) == 32
    assert reply.id != "req-1"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(model="gpt-9")))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "gpt-9" in (info.value.details() or "")
    status = rpc_status.from_call(info.value)
    assert status is not None
    assert status.details  # ErrorInfo travels with the error


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (chat_pb2.ChatRequest(model="auto"), "chat.messages"),
        (
            chat_pb2.ChatRequest(messages=[chat_pb2.Message(content="no role")]),
            "chat.messages[0].role",
        ),
        (chat("x", temperature=3.5), "chat.temperature"),
        (chat("x", max_tokens=0), "chat.max_tokens"),
        (chat("x", client_request_id="a" * 129), "chat.client_request_id"),
        (chat("x", client_request_id="two words"), "chat.client_request_id"),
        (
            chat_pb2.ChatRequest(
                messages=[chat_pb2.Message(role=chat_pb2.ROLE_TOOL, content="42")]
            ),
            "chat.messages[0].tool_call_id",
        ),
        *(
            (
                chat_pb2.ChatRequest(
                    messages=[
                        chat_pb2.Message(
                            role=chat_pb2.ROLE_USER,
                            content_parts=[chat_pb2.ContentPart(text="hi"), part],
                        )
                    ]
                ),
                "chat.messages[0].content_parts[1].detail",
            )
            for part in (
                chat_pb2.ContentPart(image_url="https://x.test/a.png", detail="huge"),
                chat_pb2.ContentPart(text="a detail on text", detail="low"),
            )
        ),
    ],
)
async def test_invalid_requests_name_the_field(router_channel, request_, field) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=request_))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(info.value)
    assert status is not None
    violations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [v.field for v in bad.field_violations]
    assert violations == [field]


async def test_stream_sends_start_deltas_then_summary(router_channel, fake_metrics) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    kinds = [c.WhichOneof("chunk") for c in chunks]
    assert kinds[0] == "start"
    assert kinds[-1] == "summary"
    assert set(kinds[1:-1]) == {"delta"}
    text = "".join(c.delta.content for c in chunks[1:-1])
    unary = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert text == unary.message.content  # the same answer, streamed
    summary = chunks[-1].summary
    assert summary.model == chunks[0].start.model == "sim-small"
    assert summary.usage.completion_tokens == len(chunks) - 2
    assert summary.attempts[0].HasField("time_to_first_token")
    metrics: FakeMetrics = fake_metrics[0]
    await wait_for(lambda: f"{chunks[0].start.id}:1" in metrics.records)
    assert metrics.records[f"{chunks[0].start.id}:1"].streamed


async def test_tools_request_gets_a_tool_call(router_channel) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    request = chat(
        "weather in Paris?",
        tools=[chat_pb2.Tool(name="get_weather", parameters_json='{"type":"object"}')],
    )
    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=request))
    assert reply.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    assert [c.name for c in reply.message.tool_calls] == ["get_weather"]


async def test_route_decides_without_calling(router_channel, fake_metrics) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    long_prompt = "word " * 40_000  # ~50k tokens: too big for sim-small's 8k window
    reply = await stub.Route(router_service_pb2.RouteRequest(chat=chat(long_prompt)))
    assert [c.model for c in reply.candidates] == ["sim-large"]
    assert [(s.model, s.reason) for s in reply.skipped_models] == [
        ("sim-small", router_service_pb2.SKIP_REASON_CONTEXT_WINDOW)
    ]
    assert "window is 8192" in reply.skipped_models[0].detail
    assert reply.estimated_prompt_tokens > 8192
    assert fake_metrics[0].records == {}  # deciding records no usage


async def test_list_models_and_health(router_channel) -> None:
    stub = router_service_pb2_grpc.RouterServiceStub(router_channel)
    models = await stub.ListModels(router_service_pb2.ListModelsRequest())
    assert [m.name for m in models.models] == ["sim-small", "sim-large", "sim-embed"]
    assert all(m.local and m.enabled for m in models.models)
    assert [m.capabilities.embeddings for m in models.models] == [False, False, True]
    assert (models.models[2].dimensions, models.models[2].max_inputs_per_request) == (64, 2048)
    health = health_pb2_grpc.HealthStub(router_channel)
    for service in ("", "llmrouter.v1.RouterService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
