"""The floor of the router hop, for ``make bench``: a ``grpc.aio`` RouterService that forwards
to one upstream through the same HTTP client as the real router, and nothing else (no routing,
failover, breakers, usage, metrics or validation).

Usage: python bench/floor/router.py PORT UPSTREAM_BASE_URL
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import orjson
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from llmrouter.sizes import DEFAULT_MAX_RECEIVE_MESSAGE_BYTES
from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc
from router_svc.providers.transport import UpstreamClient

_ROLES = {chat_pb2.ROLE_SYSTEM: "system", chat_pb2.ROLE_ASSISTANT: "assistant"}
# The bench config's models (bench/run.py) and the upstream models they name.
_MODELS = {"fast": "bench-0", "slow": "bench-20", "paced": "bench-0-50", "paced-1": "bench-0-50-1"}


class FloorRouter(router_service_pb2_grpc.RouterServiceServicer):
    def __init__(self, base_url: str) -> None:
        self._client = UpstreamClient(
            base_url, {"content-type": "application/json"}, max_connections=1024
        )
        self._timeout = httpx.Timeout(30.0, connect=5.0)

    def _body(self, request: Any, stream: bool) -> bytes:
        messages = [
            {"role": _ROLES.get(m.role, "user"), "content": m.content}
            for m in request.chat.messages
        ]
        model = _MODELS.get(request.chat.model, "bench-0")
        return orjson.dumps({"model": model, "messages": messages, "stream": stream})

    async def Complete(self, request: Any, context: Any) -> Any:
        reply = await self._client.post(
            "/chat/completions", self._body(request, False), self._timeout, {}
        )
        data = orjson.loads(reply.content)
        usage = data.get("usage") or {}
        return router_service_pb2.CompleteResponse(
            id=data.get("id", ""),
            model="fast",
            provider="bench",
            message=chat_pb2.Message(
                role=chat_pb2.ROLE_ASSISTANT, content=data["choices"][0]["message"]["content"]
            ),
            finish_reason=chat_pb2.FINISH_REASON_STOP,
            usage=chat_pb2.Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            ),
        )

    async def StreamComplete(self, request: Any, context: Any) -> AsyncIterator[Any]:
        started = False
        async with self._client.stream(
            "/chat/completions", self._body(request, True), self._timeout, {}
        ) as reply:
            async for line in reply.aiter_lines():
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                choices = orjson.loads(line[5:]).get("choices") or [{}]
                content = (choices[0].get("delta") or {}).get("content")
                if not content:
                    continue
                if not started:
                    started = True
                    yield router_service_pb2.StreamCompleteResponse(
                        start=router_service_pb2.StreamStart(model="fast", provider="bench")
                    )
                yield router_service_pb2.StreamCompleteResponse(
                    delta=router_service_pb2.StreamDelta(content=content)
                )
        yield router_service_pb2.StreamCompleteResponse(
            summary=router_service_pb2.StreamSummary(
                model="fast", provider="bench", finish_reason=chat_pb2.FINISH_REASON_STOP
            )
        )


async def main(port: int, base_url: str) -> None:
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", DEFAULT_MAX_RECEIVE_MESSAGE_BYTES)]
    )
    router_service_pb2_grpc.add_RouterServiceServicer_to_server(FloorRouter(base_url), server)
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    for name in ("", "llmrouter.v1.RouterService"):
        await checks.set(name, health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), sys.argv[2]))
