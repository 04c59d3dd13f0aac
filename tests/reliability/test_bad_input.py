"""Bad input against a real stack: schemathesis over the gateway's OpenAPI, hypothesis-built
messages straight to the gRPC services, oversized messages, invalid UTF-8, huge tool schemas
and thousands of messages. Every answer is a clear client error or a success; nothing is a
5xx, UNKNOWN or INTERNAL, and no process crashes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest
import pytest_asyncio
from google.protobuf import message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrouter.v1 import metrics_service_pb2, router_service_pb2
from tests.fakes import FakeUpstream, running_upstream
from tests.gateway.support import run_schemathesis

from .proto_strategies import chat_requests, messages
from .stack import (
    Stack,
    gateway_section,
    metrics_section,
    router_section,
    scaled,
    stack,
)

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-reliability-fuzz-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
ROUTER_MAX = 1024 * 1024  # router.max_receive_message_bytes in this stack
METRICS_MAX = 2 * 1024 * 1024
BODY_MAX = 1024 * 1024  # gateway.max_body_bytes in this stack


def router_body(upstream: FakeUpstream) -> str:
    url = upstream.base_url
    return f"""max_receive_message_bytes = {ROUTER_MAX}
default_chain = ["fake-openai", "fake-anthropic", "fake-ollama", "sim-small"]
[[router.providers]]
name = "sim"
kind = "simulated"
local = true
[[router.providers]]
name = "openai"
kind = "openai"
base_url = "{url}/v1"
[[router.providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{url}"
api_key_env = "FUZZ_ANTHROPIC_KEY"
[[router.providers]]
name = "ollama"
kind = "ollama"
base_url = "{url}"
[[router.models]]
name = "sim-small"
provider = "sim"
tools = true
json_mode = true
vision = true
context_window = 1000000
[[router.models]]
name = "fake-openai"
provider = "openai"
tools = true
json_mode = true
vision = true
context_window = 8192
[[router.models]]
name = "fake-anthropic"
provider = "anthropic"
tools = true
vision = true
[[router.models]]
name = "fake-ollama"
provider = "ollama"
tools = true
"""


# One stack for the whole module: every test here only sends input and reads answers.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    async with running_upstream() as upstream:
        # An admin key, so the fuzzing reaches the admin routes too.
        env = {"LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ci:{KEY}", "FUZZ_ANTHROPIC_KEY": "not-secret"}
        async with stack(tmp_path, env) as s:
            metrics = await s.start(
                "metrics",
                "metrics",
                metrics_section(tmp_path, f"max_receive_message_bytes = {METRICS_MAX}"),
            )
            router = await s.start(
                "router",
                "router",
                router_section(tmp_path, "router", metrics.port, router_body(upstream)),
            )
            await s.start(
                "gateway",
                "gateway",
                gateway_section([router.port], metrics.port, f"max_body_bytes = {BODY_MAX}"),
            )
            yield s
            for service in s.services.values():
                assert service.process.poll() is None, f"{service.name} died:\n{service.log()}"
            for name, log in s.logs().items():
                assert "Traceback" not in log, f"{name}:\n{log}"


# gRPC ------------------------------------------------------------------------------------

Call = Callable[[bytes], Any]


def _methods(s: Stack, channels: list[grpc.Channel]) -> dict[str, tuple[Call, Any, bool]]:
    """Each RPC under test: (call with raw bytes, request descriptor, server streaming)."""
    router = grpc.insecure_channel(f"127.0.0.1:{s.port('router')}")
    metrics = grpc.insecure_channel(f"127.0.0.1:{s.port('metrics')}")
    channels += [router, metrics]
    rs, ms = router_service_pb2, metrics_service_pb2
    table = {
        "/llmrouter.v1.RouterService/Route": (router, rs.RouteRequest, False),
        "/llmrouter.v1.RouterService/Complete": (router, rs.CompleteRequest, False),
        "/llmrouter.v1.RouterService/StreamComplete": (router, rs.StreamCompleteRequest, True),
        "/llmrouter.v1.RouterService/Embed": (router, rs.EmbedRequest, False),
        "/llmrouter.v1.MetricsService/RecordUsage": (metrics, ms.RecordUsageRequest, False),
        "/llmrouter.v1.MetricsService/QueryCosts": (metrics, ms.QueryCostsRequest, False),
        "/llmrouter.v1.MetricsService/ListFallbackEvents": (
            metrics,
            ms.ListFallbackEventsRequest,
            False,
        ),
        "/llmrouter.v1.MetricsService/GetProviderHealth": (
            metrics,
            ms.GetProviderHealthRequest,
            False,
        ),
    }
    methods: dict[str, tuple[Call, Any, bool]] = {}
    for name, (channel, request, streaming) in table.items():
        if streaming:
            call: Call = channel.unary_stream(name)
        else:
            call = channel.unary_unary(name)
        methods[name] = (call, request.DESCRIPTOR, streaming)
    return methods


def _invoke(call: Call, payload: bytes, streaming: bool) -> grpc.StatusCode:
    try:
        if streaming:
            for _ in call(payload, timeout=10):
                pass
        else:
            call(payload, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


async def test_hypothesis_messages_to_the_grpc_services(fuzz_stack: Stack) -> None:
    channels: list[grpc.Channel] = []
    methods = _methods(fuzz_stack, channels)
    seen: dict[str, set[str]] = {name: set() for name in methods}

    def check(name: str, payload: bytes) -> None:
        call, _, streaming = methods[name]
        code = _invoke(call, payload, streaming)
        seen[name].add(code.name)
        assert code not in FORBIDDEN, (name, code, payload[:300])

    examples = scaled(60, 1000)
    fuzz_settings = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )

    def fuzz(name: str, descriptor: Any) -> None:
        hostile = messages(descriptor)
        if "chat" in descriptor.fields_by_name:
            hostile = chat_requests(descriptor)

        @fuzz_settings
        @given(hostile)
        def well_typed(request: message.Message) -> None:
            check(name, request.SerializeToString())

        @fuzz_settings
        @given(st.binary(max_size=200))
        def raw_bytes(payload: bytes) -> None:
            check(name, payload)

        well_typed()
        raw_bytes()

    def run_all() -> None:
        for name, (_, descriptor, _) in methods.items():
            fuzz(name, descriptor)

    try:
        # In a thread: this loop keeps serving the fake upstream meanwhile.
        await asyncio.to_thread(run_all)
    finally:
        for channel in channels:
            channel.close()
    print(f"\ngRPC fuzz: {examples} x 2 examples per RPC; status codes seen: {seen}")


@pytest.mark.parametrize(
    ("service", "method", "limit"),
    [
        ("router", "/llmrouter.v1.RouterService/Complete", ROUTER_MAX),
        ("metrics", "/llmrouter.v1.MetricsService/RecordUsage", METRICS_MAX),
    ],
)
async def test_oversized_grpc_messages_are_resource_exhausted(
    fuzz_stack: Stack, service: str, method: str, limit: int
) -> None:
    # Field 1 of both requests is a message; a length-delimited blob just over the limit.
    payload = b"\x0a" + _varint(limit) + b"a" * limit
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fuzz_stack.port(service)}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(method)(payload, timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# HTTP ------------------------------------------------------------------------------------


async def _post(s: Stack, content: bytes, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=s.url, timeout=60) as http:
        return await http.post(
            "/v1/chat/completions",
            content=content,
            headers={**AUTH, "content-type": "application/json", **headers},
        )


async def test_oversized_body_is_413(fuzz_stack: Stack) -> None:
    huge = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"a" * BODY_MAX
    reply = await _post(fuzz_stack, huge + b'"}]}')
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(
            b'{"model": "auto", "messages": [{"role": "user", "content": "\xc3\x28"}]}',
            id="invalid-utf8-in-string",
        ),
        pytest.param(
            b'{"model": "auto", "messages": [{"role": "user", "content": "\\ud800"}]}',
            id="lone-surrogate",
        ),
        pytest.param(
            b'{"model": "auto", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", id="deep"
        ),
    ],
)
async def test_undecodable_bodies_are_clear_400s(fuzz_stack: Stack, body: bytes) -> None:
    reply = await _post(fuzz_stack, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]


def _tool_body(parameters: bytes, model: str = "fake-openai") -> bytes:
    return (
        b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "hi"}], '
        b'"tools": [{"type": "function", "function": {"name": "t", "parameters": '
        + parameters
        + b"}}]}"
    )


@pytest.mark.parametrize("model", ["sim-small", "fake-openai"])
async def test_huge_tool_schema(fuzz_stack: Stack, model: str) -> None:
    properties = {f"field_{i}": {"type": "string", "description": "d" * 100} for i in range(5000)}
    content = _tool_body(orjson.dumps({"type": "object", "properties": properties}), model)
    assert BODY_MAX / 2 < len(content) < BODY_MAX
    reply = await _post(fuzz_stack, content)
    if model == "sim-small":  # a window of 1,000,000 tokens: served
        assert reply.status_code == 200, reply.text
    else:  # a configured 8192 tokens: a clear refusal naming the window, not a 503 to retry
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize("depth", [40, 150, 400, 3000])
async def test_deeply_nested_tool_schemas_are_served_or_a_clear_400(
    fuzz_stack: Stack, depth: int
) -> None:
    # Each level is two JSON objects deep: {"type": "object", "properties": {"x": ...}}.
    level = b'{"type": "object", "properties": {"x": '
    reply = await _post(fuzz_stack, _tool_body(level * depth + b"{}" + b"}}" * depth))
    if depth <= 30:
        assert reply.status_code == 200, reply.text
        return
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "nested" in error["message"] or "JSON" in error["message"], error


@pytest.mark.parametrize("model", ["sim-small", "fake-openai"])
async def test_thousands_of_messages(fuzz_stack: Stack, model: str) -> None:
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"}
        for i in range(5000)
    ]
    reply = await _post(fuzz_stack, orjson.dumps({"model": model, "messages": history}))
    if model == "sim-small":  # a window of 1,000,000 tokens: served
        assert reply.status_code == 200, reply.text
    else:  # a configured 8192 tokens: a clear refusal naming the window, not a 503 to retry
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] == "context_length_exceeded"


# Last in the module: the admin run disables models and edits categories on the shared stack.
@pytest.mark.parametrize(
    "selection",
    [
        # The operator controls change what the other operations may answer (a model disabled
        # through /v1/admin makes chat completions 503 "no available model", as it should), so
        # they are fuzzed in a run of their own, after everything else.
        pytest.param(["--exclude-path-regex", "^/v1/admin"], id="api"),
        pytest.param(["--include-path-regex", "^/v1/admin"], id="admin"),
    ],
)
async def test_schemathesis_against_the_real_stack(
    fuzz_stack: Stack, tmp_path: Path, selection: list[str]
) -> None:
    """Every schemathesis check (5xx above all), positive and negative data, stateful too."""
    returncode, text = await run_schemathesis(
        fuzz_stack.url,
        KEY,
        *selection,
        "--max-examples",
        str(scaled(25, 300)),
        "--seed",
        "7",
        cwd=tmp_path,
    )
    failures = text[text.find("FAILURES") :][:6000]  # the first failures, not the curl lines
    assert returncode == 0, failures
    assert "FAILURES" not in text, failures
    generated = re.search(r"(\d+) generated", text)
    assert generated is not None, text[-3000:]
    assert int(generated.group(1)) > 100
    print(f"\nschemathesis on the real stack ({selection}): {generated.group(1)} test cases")
