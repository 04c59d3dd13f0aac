"""gRPC server reflection under both of its service names: ``grpc.reflection.v1`` (what
current ``grpcurl``, Postman and other tools ask for first) and ``grpc.reflection.v1alpha``.

grpcio-reflection ships only the v1alpha service (grpc/grpc#38576). The v1 protocol
(grpc/grpc ``src/proto/grpc/reflection/v1/reflection.proto``) has the same messages, field for
field and number for number, in another package: its bytes are v1alpha's bytes. So the v1alpha
servicer answers on both method paths, and a v1 copy of the reflection file joins the
descriptor pool so that a v1 client can list and describe the v1 service itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

__all__ = ["V1ALPHA_SERVICE_NAME", "V1_FILE", "V1_SERVICE_NAME", "add_reflection"]

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
# The file's name in grpc/grpc-proto, where the v1 proto's canonical copy lives.
V1_FILE = "grpc/reflection/v1/reflection.proto"

_V1ALPHA_PACKAGE = "grpc.reflection.v1alpha"
_V1_PACKAGE = "grpc.reflection.v1"


def _v1_file_proto() -> descriptor_pb2.FileDescriptorProto:
    """The v1 reflection file: v1alpha's messages and service in package grpc.reflection.v1,
    with the v1 proto's file options (and without v1alpha's ``deprecated``)."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = V1_FILE
    proto.package = _V1_PACKAGE
    old, new = f".{_V1ALPHA_PACKAGE}.", f".{_V1_PACKAGE}."
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    proto.options.Clear()
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    proto.options.java_multiple_files = True
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.java_outer_classname = "ServerReflectionProto"
    return proto


def _ensure_v1_file(pool: descriptor_pool.DescriptorPool) -> None:
    """Add the v1 reflection file to ``pool`` unless a file of that name (or one defining the
    v1 service, as a future grpcio-reflection's would) is there already."""
    try:
        pool.FindFileContainingSymbol(V1_SERVICE_NAME)
        return
    except KeyError:
        pass
    pool.AddSerializedFile(_v1_file_proto().SerializeToString())


def add_reflection(server: Any, service_names: Sequence[str]) -> None:
    """Serve reflection on ``server`` (a ``grpc.aio.Server``, or anything with its two
    ``add_*_handlers`` methods, such as :class:`llmrouter.guard.GuardedServer`) for
    ``service_names`` plus both reflection services.

    Both method paths, ``/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo`` and
    ``/grpc.reflection.v1.ServerReflection/ServerReflectionInfo``, reach one asyncio servicer
    reading the default descriptor pool.
    """
    _ensure_v1_file(descriptor_pool.Default())
    servicer = reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
        (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    )
    for service in (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME):
        handlers = {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        }
        # As the generated add_*_to_server does: generic (looked up per call) and registered.
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        server.add_registered_method_handlers(service, handlers)
