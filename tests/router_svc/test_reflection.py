"""Server reflection answers clients speaking ``grpc.reflection.v1`` (current grpcurl, Postman)
as well as ``v1alpha``: a real router, a client on the v1 method path listing services and
fetching the file that defines the router's service (issue 18)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2

from llmrouter.reflection import V1_FILE

V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
# grpcio-reflection ships no type hints.
Request: Any = reflection_pb2.ServerReflectionRequest
Response: Any = reflection_pb2.ServerReflectionResponse


async def ask(channel: grpc.aio.Channel, method: str, requests: Iterable[Any]) -> list[Any]:
    """One reflection stream on ``method``: the answers to ``requests``, in order. The v1 and
    v1alpha messages are the same on the wire (grpc/grpc src/proto/grpc/reflection/v1)."""
    call = channel.stream_stream(
        method,
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )
    return [answer async for answer in call(iter(list(requests)), timeout=10)]


def pool_of(answer: Any) -> descriptor_pool.DescriptorPool:
    """A descriptor pool holding every file of ``answer`` (a file and its dependencies)."""
    files = {}
    for raw in answer.file_descriptor_response.file_descriptor_proto:
        proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
        files[proto.name] = proto
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        for dependency in files[name].dependency:
            add(dependency)
        pool.Add(files[name])
        added.add(name)

    for name in files:
        add(name)
    return pool


@pytest.mark.parametrize("method", [V1, V1ALPHA])
async def test_a_client_lists_services_and_describes_the_router(
    router_channel: grpc.aio.Channel, method: str
) -> None:
    listed, router_file, unknown = await ask(
        router_channel,
        method,
        [
            Request(list_services=""),
            Request(file_containing_symbol="llmrouter.v1.RouterService"),
            Request(file_containing_symbol="llmrouter.v1.NoSuchService"),
        ],
    )
    names = {service.name for service in listed.list_services_response.service}
    assert {
        "llmrouter.v1.RouterService",
        "llmrouter.v1.RouterAdminService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names

    # Enough to call Complete without the .proto files: its request type and all it uses.
    complete = pool_of(router_file).FindMethodByName("llmrouter.v1.RouterService.Complete")
    assert complete.input_type.full_name == "llmrouter.v1.CompleteRequest"
    # chat.ChatRequest lives in chat.proto: the answer carries the dependencies too.
    chat = complete.input_type.fields_by_name["chat"].message_type
    assert chat is not None
    assert chat.full_name == "llmrouter.v1.ChatRequest"
    assert chat.file.name != complete.containing_service.file.name
    assert "messages" in chat.fields_by_name

    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_the_v1_service_describes_itself_and_its_messages_work(
    router_channel: grpc.aio.Channel,
) -> None:
    """A v1 client can describe the reflection service it speaks, and messages made from that
    description (package grpc.reflection.v1) get answers."""
    (answer,) = await ask(
        router_channel, V1, [Request(file_containing_symbol="grpc.reflection.v1.ServerReflection")]
    )
    pool = pool_of(answer)
    file = pool.FindFileByName(V1_FILE)
    assert file.package == "grpc.reflection.v1"
    assert not file.GetOptions().deprecated  # v1alpha's file is marked deprecated
    info = pool.FindMethodByName("grpc.reflection.v1.ServerReflection.ServerReflectionInfo")
    assert info.input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"
    assert (info.client_streaming, info.server_streaming) == (True, True)

    # The v1 message classes, built from the description alone, on the v1 path.
    v1_request = message_factory.GetMessageClass(info.input_type)
    v1_response = message_factory.GetMessageClass(info.output_type)
    call = router_channel.stream_stream(
        V1,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=v1_response.FromString,
    )
    answers = [a async for a in call(iter([v1_request(list_services="")]), timeout=10)]
    assert [a.WhichOneof("message_response") for a in answers] == ["list_services_response"]
    assert "llmrouter.v1.RouterService" in {
        s.name for s in answers[0].list_services_response.service
    }
    assert answers[0].original_request.list_services == ""
