"""Calling llmrouter's RouterService from Python: Complete and StreamComplete with a deadline
and a bearer token, retries by gRPC's service config, errors read from ``google.rpc.ErrorInfo``.

Needs only the client distribution, ``pip install 'llmrouter-client[status]'`` (README,
"Integrating"); in this repository ``.venv/bin/python examples/client.py`` works as well.

    export LLMROUTER_INFERENCE_TOKEN=...     # a token with the router's inference scope
    python examples/client.py --target 127.0.0.1:50051 "Say hi"
    python examples/client.py --stream --model sim-large --timeout 10 "Write a haiku"

The answer goes to stdout, a line about who served it to stderr. Exit status: 0 answered,
1 an error (its code, ErrorInfo reason and request id on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

# Retries are data, applied by gRPC itself (gRFC A6): a RouterService call that ends
# UNAVAILABLE is tried again, up to 4 attempts within the call's one deadline. That covers a
# router that cannot be reached or went away before answering; errors a router answers itself
# (every model failed, ...) carry a negative retry pushback and are never retried, and a stream
# is retried only before its first message, so nothing is billed twice. round_robin spreads
# calls over every address of the target (several routers, or a DNS name with many records)
# and skips those that are down.
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{"service": "llmrouter.v1.RouterService"}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)
OPTIONS = (
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.service_config_disable_resolution", 1),  # DNS TXT records must not replace it
)


def open_channel(target: str) -> grpc.aio.Channel:
    """A channel to ``target`` (``host:port``, ``dns:///name:port`` or ``ipv4:a:p,b:p``).
    Plaintext; for a router with TLS use ``grpc.aio.secure_channel(target,
    grpc.ssl_channel_credentials(ca_pem), OPTIONS)``."""
    return grpc.aio.insecure_channel(target, OPTIONS)


def chat(model: str, prompt: str) -> chat_pb2.ChatRequest:
    """One user message for ``model`` ("auto": the router picks by category)."""
    message = chat_pb2.Message(role=chat_pb2.ROLE_USER, content=prompt)
    return chat_pb2.ChatRequest(model=model, messages=[message])


async def complete(
    router: router_service_pb2_grpc.RouterServiceStub,
    request: chat_pb2.ChatRequest,
    timeout_s: float,
    metadata: tuple[tuple[str, str], ...],
) -> None:
    """The whole answer at once, within ``timeout_s`` seconds (retries included)."""
    # The service stubs are untyped (protoc types the messages only): name the reply's type.
    reply: router_service_pb2.CompleteResponse = await router.Complete(
        router_service_pb2.CompleteRequest(chat=request), timeout=timeout_s, metadata=metadata
    )
    print(reply.message.content)
    usage = reply.usage
    print(
        f"model={reply.model} provider={reply.provider} id={reply.id} "
        f"attempts={len(reply.attempts)} tokens={usage.prompt_tokens}+{usage.completion_tokens} "
        f"cost_usd={usage.cost_usd:.6f}",
        file=sys.stderr,
    )


async def stream(
    router: router_service_pb2_grpc.RouterServiceStub,
    request: chat_pb2.ChatRequest,
    timeout_s: float,
    metadata: tuple[tuple[str, str], ...],
) -> None:
    """The answer as it is written: a start naming the model, deltas (alone or in batches),
    then a summary with the usage; the deadline covers the whole stream."""
    call = router.StreamComplete(
        router_service_pb2.StreamCompleteRequest(chat=request, accepts_delta_batches=True),
        timeout=timeout_s,
        metadata=metadata,
    )
    request_id = ""
    chunk: router_service_pb2.StreamCompleteResponse
    async for chunk in call:
        kind = chunk.WhichOneof("chunk")
        if kind == "start":
            request_id = chunk.start.id
        elif kind == "delta":
            sys.stdout.write(chunk.delta.content)
        elif kind == "delta_batch":
            sys.stdout.write("".join(delta.content for delta in chunk.delta_batch.deltas))
        elif kind == "summary":
            summary, usage = chunk.summary, chunk.summary.usage
            print()
            print(
                f"model={summary.model} provider={summary.provider} id={request_id} "
                f"attempts={len(summary.attempts)} "
                f"tokens={usage.prompt_tokens}+{usage.completion_tokens} "
                f"cost_usd={usage.cost_usd:.6f}",
                file=sys.stderr,
            )
        sys.stdout.flush()


def describe(error: grpc.aio.AioRpcError) -> str:
    """One line for a failed call: its code and message, then what its ``google.rpc.Status``
    details say (llmrouter's ErrorInfo reason and request id, RetryInfo, BadRequest). A call
    that never reached a router, or hit its own deadline, has no details."""
    line = f"{error.code().name}: {error.details()}"
    # AioRpcError has the code(), details() and trailing_metadata() that from_call reads.
    status = rpc_status.from_call(cast(grpc.Call, error))
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            line += f" [reason {info.reason}"
            if "requestId" in info.metadata:
                line += f", request {info.metadata['requestId']}"
            line += "]"
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            line += f" [retry after {retry.retry_delay.ToTimedelta().total_seconds():g} s]"
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            line += "".join(f" [field {v.field}: {v.description}]" for v in bad.field_violations)
    return line


async def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make one call, print the answer; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--target", default="127.0.0.1:50051", help="the router's address")
    parser.add_argument("--model", default="auto", help='a model name or "auto"')
    parser.add_argument("--stream", action="store_true", help="StreamComplete, not Complete")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds")
    parser.add_argument(
        "--token-env",
        default="LLMROUTER_INFERENCE_TOKEN",
        help="variable holding the bearer token (unset: no token, for a loopback router)",
    )
    args = parser.parse_args(argv)
    token = os.environ.get(args.token_env, "")
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with open_channel(args.target) as channel:
        router = router_service_pb2_grpc.RouterServiceStub(channel)
        call = stream if args.stream else complete
        try:
            await call(router, chat(args.model, args.prompt), args.timeout, metadata)
        except grpc.aio.AioRpcError as error:
            print(f"error: {describe(error)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
