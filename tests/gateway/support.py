"""A fake RouterService for gateway tests: canned answers, injectable failures and stalls.

It runs in a real in-process ``grpc.aio`` server (see conftest.py), so the gateway talks to it
over a real channel exactly as it talks to the router.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import RunningGateway
from llmrouter.serving import GrpcServer
from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

CREATED = 1_700_000_000

# The API key the test gateway accepts, its id, and the header presenting it.
TEST_KEY = "sk-test-0123456789abcdef"
TEST_KEY_ID = "tests"
AUTH = {"authorization": f"Bearer {TEST_KEY}"}

Context = grpc.aio.ServicerContext[Any, Any]

_REPO = Path(__file__).resolve().parents[2]


async def run_schemathesis(url: str, key: str, *options: str, cwd: Path) -> tuple[int, str]:
    """``st run`` on ``url``'s OpenAPI document with our hooks and ``key``: (exit code, output).

    ``cwd`` keeps schemathesis's cache and reports out of the repository.
    """
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{url}/openapi.json",
        "-H",
        f"Authorization: Bearer {key}",
        "--no-color",
        *options,
        cwd=cwd,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.gateway.schemathesis_hooks",
            "PYTHONPATH": str(_REPO),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


# The start_gateway fixture: start a gateway with GatewayConfig fields overridden (and
# optionally ``options=AppOptions(...)``).
StartGateway = Callable[..., Awaitable[RunningGateway]]


@dataclass
class Failure:
    """How the fake fails a call: a status code plus optional rich details."""

    code: grpc.StatusCode
    message: str = "injected failure"
    # google.rpc.ErrorInfo reason; None sends no ErrorInfo.
    reason: str | None = None
    # google.rpc.RetryInfo delay in seconds; None sends no RetryInfo.
    retry_after: float | None = None
    # google.rpc.BadRequest field; None sends no BadRequest.
    field: str | None = None
    # ErrorInfo metadata "requestId": the id the router gave the failed request.
    request_id: str | None = None
    # False: a bare status code and message, as gRPC core itself produces.
    rich: bool = True


def usage(prompt: int = 12, completion: int = 5) -> chat_pb2.Usage:
    """A Usage message: 4 of the prompt tokens read from the cache (1 written to it), 2 of
    the completion tokens reasoning."""
    return chat_pb2.Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cache_read_tokens=4,
        cache_write_tokens=1,
        reasoning_tokens=2,
    )


def attempts(count: int) -> list[chat_pb2.Attempt]:
    """``count`` attempts, the last one succeeded."""
    result = [
        chat_pb2.Attempt(
            number=i + 1, model="m", provider="p", status=chat_pb2.ATTEMPT_STATUS_FAILED
        )
        for i in range(count - 1)
    ]
    result.append(
        chat_pb2.Attempt(
            number=count, model="m", provider="p", status=chat_pb2.ATTEMPT_STATUS_SUCCEEDED
        )
    )
    return result


def text_response(content: str = "Hello there!") -> router_service_pb2.CompleteResponse:
    """A served text answer (after one failed attempt, so with fallback)."""
    return router_service_pb2.CompleteResponse(
        id="req-1",
        model="sim-small",
        provider="simulated",
        message=chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content=content),
        finish_reason=chat_pb2.FINISH_REASON_STOP,
        usage=usage(),
        attempts=attempts(2),
        category="general",
        create_time=timestamp_pb2.Timestamp(seconds=CREATED),
        fallback=True,
    )


def tool_call_response() -> router_service_pb2.CompleteResponse:
    """A served answer that only calls a tool."""
    response = text_response("")
    response.fallback = False
    del response.attempts[:-1]
    response.message.tool_calls.append(
        chat_pb2.ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}')
    )
    response.finish_reason = chat_pb2.FINISH_REASON_TOOL_CALLS
    return response


def start_message() -> router_service_pb2.StreamCompleteResponse:
    """The StreamStart of a stream served by sim-small."""
    return router_service_pb2.StreamCompleteResponse(
        start=router_service_pb2.StreamStart(
            id="req-s",
            model="sim-small",
            provider="simulated",
            category="general",
            create_time=timestamp_pb2.Timestamp(seconds=CREATED),
        )
    )


def delta(
    content: str = "", *calls: router_service_pb2.ToolCallDelta
) -> router_service_pb2.StreamCompleteResponse:
    """One StreamDelta message."""
    return router_service_pb2.StreamCompleteResponse(
        delta=router_service_pb2.StreamDelta(content=content, tool_calls=list(calls))
    )


def delta_batch(*contents: str) -> router_service_pb2.StreamCompleteResponse:
    """Text deltas sent as one StreamDeltaBatch message."""
    deltas = [router_service_pb2.StreamDelta(content=content) for content in contents]
    return router_service_pb2.StreamCompleteResponse(
        delta_batch=router_service_pb2.StreamDeltaBatch(deltas=deltas)
    )


def summary(
    reason: chat_pb2.FinishReason = chat_pb2.FINISH_REASON_STOP,
) -> router_service_pb2.StreamCompleteResponse:
    """The StreamSummary ending a stream."""
    return router_service_pb2.StreamCompleteResponse(
        summary=router_service_pb2.StreamSummary(
            model="sim-small",
            provider="simulated",
            finish_reason=reason,
            usage=usage(),
            attempts=attempts(1),
        )
    )


def text_stream() -> list[router_service_pb2.StreamCompleteResponse]:
    """start, three text deltas, summary."""
    return [start_message(), delta("Hel"), delta("lo"), delta("!"), summary()]


def tool_call_stream() -> list[router_service_pb2.StreamCompleteResponse]:
    """start, a tool call in three deltas, summary with finish reason TOOL_CALLS."""
    return [
        start_message(),
        delta("", router_service_pb2.ToolCallDelta(index=0, id="call_1", name="get_weather")),
        delta("", router_service_pb2.ToolCallDelta(index=0, arguments='{"city":')),
        delta("", router_service_pb2.ToolCallDelta(index=0, arguments='"Paris"}')),
        summary(chat_pb2.FINISH_REASON_TOOL_CALLS),
    ]


def models() -> list[router_service_pb2.ModelInfo]:
    """Two enabled models and a disabled one."""
    return [
        router_service_pb2.ModelInfo(name="sim-small", provider="simulated", enabled=True),
        router_service_pb2.ModelInfo(name="gpt-4o-mini", provider="openai", enabled=True),
        router_service_pb2.ModelInfo(name="retired", provider="openai", enabled=False),
    ]


def categories() -> list[router_service_pb2.CategoryInfo]:
    """One category over both enabled models."""
    return [router_service_pb2.CategoryInfo(name="code", chain=["gpt-4o-mini", "sim-small"])]


def route_response() -> router_service_pb2.RouteResponse:
    """A decision: two candidates, one model skipped for its context window."""
    return router_service_pb2.RouteResponse(
        category="code",
        category_source="keywords",
        estimated_prompt_tokens=9000,
        candidates=[
            router_service_pb2.Candidate(
                model="sim-large", provider="simulated", position=0, score=0.8, reason="score 0.8"
            ),
            router_service_pb2.Candidate(
                model="gpt-4o-mini", provider="openai", position=1, reason="chain position 2"
            ),
        ],
        skipped_models=[
            router_service_pb2.SkippedModel(
                model="sim-small",
                reason=router_service_pb2.SKIP_REASON_CONTEXT_WINDOW,
                detail="needs 9000 tokens, window is 8192",
            )
        ],
    )


def rich_status(failure: Failure) -> grpc.Status:
    """``failure`` as a grpc.Status carrying google.rpc details, as the router sends them."""
    details: list[any_pb2.Any] = []
    if failure.reason is not None:
        metadata = {} if failure.request_id is None else {"requestId": failure.request_id}
        info = error_details_pb2.ErrorInfo(
            reason=failure.reason, domain="llmrouter", metadata=metadata
        )
        details.append(_pack(info))
    if failure.retry_after is not None:
        seconds = int(failure.retry_after)
        delay = duration_pb2.Duration(
            seconds=seconds, nanos=round((failure.retry_after - seconds) * 1e9)
        )
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if failure.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=failure.field, description=failure.message
        )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(code=failure.code.value[0], message=failure.message, details=details)
    return rpc_status.to_status(status)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def fake_vector(text: str) -> list[float]:
    """The fake router's embedding of ``text``: exact in float32 (multiples of 1/8)."""
    return [len(text) / 8, -0.125, 0.375, float(len(text.split()))]


class FakeRouter(router_service_pb2_grpc.RouterServiceServicer):
    """Canned RouterService. Set the attributes to shape the next calls."""

    def __init__(self) -> None:
        self.port = 0
        self.server: GrpcServer | None = None
        self.complete_response = text_response()
        self.stream_messages = text_stream()
        self.models = models()
        self.categories = categories()
        self.default_chain = ["sim-small", "gpt-4o-mini"]
        self.route_response = route_response()
        # Fail calls with this (streams: after ``fail_after`` messages were sent).
        self.failure: Failure | None = None
        self.fail_after = 0
        # Streams: fail only this many calls, the first ones (None: every call).
        self.failing_streams: int | None = None
        # Wait for ``release`` before answering (streams: after ``hold_after`` messages).
        self.hold = False
        self.hold_after: int | None = None
        self.release = asyncio.Event()
        # Set when a call arrives / when the client cancels a call.
        self.called = asyncio.Event()
        self.cancelled = asyncio.Event()
        # What the gateway sent, and the deadline left when each call arrived.
        self.requests: list[chat_pb2.ChatRequest] = []
        self.embed_requests: list[router_service_pb2.EmbedRequest] = []
        # Streams: whether each call accepted delta batches (StreamCompleteRequest).
        self.accepts_batches: list[bool] = []
        self.time_remaining: list[float | None] = []

    async def Complete(
        self, request: router_service_pb2.CompleteRequest, context: Context
    ) -> router_service_pb2.CompleteResponse:
        self._record(request.chat, context)
        try:
            if self.hold:
                await self.release.wait()
            if self.failure is not None:
                await self._abort(context, self.failure)
            return self.complete_response
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def StreamComplete(
        self, request: router_service_pb2.StreamCompleteRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        self._record(request.chat, context)
        self.accepts_batches.append(request.accepts_delta_batches)
        failure = self.failure
        if self.failing_streams is not None and len(self.requests) > self.failing_streams:
            failure = None
        try:
            for index, message in enumerate(self.stream_messages):
                if failure is not None and index == self.fail_after:
                    await self._abort(context, failure)
                if self.hold_after == index:
                    await self.release.wait()
                yield message
            if failure is not None and self.fail_after >= len(self.stream_messages):
                await self._abort(context, failure)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def Route(
        self, request: router_service_pb2.RouteRequest, context: Context
    ) -> router_service_pb2.RouteResponse:
        self._record(request.chat, context)
        if self.failure is not None:
            await self._abort(context, self.failure)
        return self.route_response

    async def Embed(
        self, request: router_service_pb2.EmbedRequest, context: Context
    ) -> router_service_pb2.EmbedResponse:
        """One vector per input, :func:`fake_vector` of its text; usage 3 tokens an input."""
        self.embed_requests.append(request)
        self.time_remaining.append(context.time_remaining())
        self.called.set()
        if self.failure is not None:
            await self._abort(context, self.failure)
        tokens = 3 * len(request.inputs)
        return router_service_pb2.EmbedResponse(
            request_id="emb-req-1",
            model=request.model if request.model != "auto" else "emb",
            provider="fake",
            embeddings=[
                router_service_pb2.Embedding(index=i, values=fake_vector(text))
                for i, text in enumerate(request.inputs)
            ],
            usage=chat_pb2.Usage(prompt_tokens=tokens, total_tokens=tokens, cost_usd=1e-6),
            attempts=attempts(1),
            upstream_calls=1,
        )

    async def ListModels(
        self, request: router_service_pb2.ListModelsRequest, context: Context
    ) -> router_service_pb2.ListModelsResponse:
        self.called.set()
        self.time_remaining.append(context.time_remaining())
        if self.failure is not None:
            await self._abort(context, self.failure)
        return router_service_pb2.ListModelsResponse(
            models=self.models, categories=self.categories, default_chain=self.default_chain
        )

    def _record(self, chat: chat_pb2.ChatRequest, context: Context) -> None:
        self.requests.append(chat)
        self.time_remaining.append(context.time_remaining())
        self.called.set()

    @staticmethod
    async def _abort(context: Context, failure: Failure) -> None:
        if failure.rich:
            status = rich_status(failure)
            await context.abort(status.code, status.details, status.trailing_metadata)
        await context.abort(failure.code, failure.message)
