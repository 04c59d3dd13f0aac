"""The floor of the gateway hop, for ``make bench``: a bare ASGI app on uvicorn (same server
settings as the real gateway) that turns an OpenAI chat request into one RouterService call
and its answer back into OpenAI JSON or SSE, and nothing else (no auth, validation, request
ids, metrics, disconnect handling or error mapping).

Usage: python bench/floor/gateway.py PORT ROUTER_PORT
"""

from __future__ import annotations

import sys
import time
from typing import Any

import grpc
import orjson
import uvicorn
import uvloop

from llmrouter.sizes import DEFAULT_MAX_RECEIVE_MESSAGE_BYTES
from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

# The same message limits as the real hops (gRPC's own default refuses requests over 4 MiB).
SIZE_OPTIONS = [
    ("grpc.max_send_message_length", DEFAULT_MAX_RECEIVE_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", DEFAULT_MAX_RECEIVE_MESSAGE_BYTES),
]
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class FloorGateway:
    def __init__(self, router_port: int) -> None:
        self._router_port = router_port
        self._stub: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                channel = grpc.aio.insecure_channel(
                    f"127.0.0.1:{self._router_port}", options=SIZE_OPTIONS
                )
                self._stub = router_service_pb2_grpc.RouterServiceStub(channel)
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] != "/v1/chat/completions":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        parts, more = [], True
        while more:  # joined once: linear in the body, however many chunks it came in
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        data = orjson.loads(b"".join(parts))
        chat = chat_pb2.ChatRequest(
            model=data["model"],
            messages=[
                chat_pb2.Message(role=chat_pb2.ROLE_USER, content=m["content"])
                for m in data["messages"]
            ],
        )
        if data.get("stream"):
            await self._stream(chat, send)
            return
        reply = await self._stub.Complete(router_service_pb2.CompleteRequest(chat=chat))
        out = orjson.dumps(
            {
                "id": reply.id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.message.content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.usage.prompt_tokens,
                    "completion_tokens": reply.usage.completion_tokens,
                    "total_tokens": reply.usage.total_tokens,
                },
            }
        )
        headers = [*_JSON, (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    async def _stream(self, chat: Any, send: Any) -> None:
        call = self._stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat))
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        async for chunk in call:
            if chunk.WhichOneof("chunk") != "delta":
                continue
            event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}]}
            event["choices"][0]["delta"]["content"] = chunk.delta.content
            frame = b"data: " + orjson.dumps(event) + b"\n\n"
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def main(port: int, router_port: int) -> None:
    config = uvicorn.Config(
        FloorGateway(router_port),
        host="127.0.0.1",
        port=port,
        loop="none",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
