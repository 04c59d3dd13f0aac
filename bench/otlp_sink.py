"""A local OTLP/gRPC receiver for the tracing benchmark: accepts and counts spans."""

from __future__ import annotations

import asyncio
import sys

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    spans = 0

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                Sink.spans += len(ss.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def main(port: int) -> None:
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Sink(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
