"""The scope tables cover every RPC, scoped-token settings fail at start naming the key (never
quoting a value that may be a token), and a real server checks every method before its span."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.access import Authorizer, ScopeTable, TokenGrant, is_loopback
from llmrouter.config import ConfigError
from llmrouter.serving import start_grpc_server
from llmrouter.v1 import metrics_service_pb2, router_admin_service_pb2, router_service_pb2
from metrics_svc.config import SCOPES as METRICS_SCOPES
from metrics_svc.config import load_config as metrics_config
from router_svc.config import SCOPES as ROUTER_SCOPES
from router_svc.config import load_config as router_config
from tests.metrics_svc.support import rich_error
from tests.router_svc.conftest import spans  # noqa: F401 (the fixture)


def methods(module: object, service: str) -> list[str]:
    descriptor = module.DESCRIPTOR.services_by_name[service]  # type: ignore[attr-defined]
    return [f"/{descriptor.full_name}/{m.name}" for m in descriptor.methods]


def test_every_rpc_needs_the_scope_its_holder_has() -> None:
    router = {m: ROUTER_SCOPES.scope_of(m) for m in methods(router_service_pb2, "RouterService")}
    assert set(router.values()) == {"inference"}
    assert len(router) == 5  # Route, Complete, StreamComplete, ListModels, Embed
    admin = {
        m: ROUTER_SCOPES.scope_of(m)
        for m in methods(router_admin_service_pb2, "RouterAdminService")
    }
    # The gateway authenticates virtual keys with its own token: the one read it needs.
    assert admin.pop("/llmrouter.v1.RouterAdminService/ListApiKeyDigests") == "inference"
    # ... and shows a key its own budgets (/v1/usage) whether or not it holds an admin token.
    assert admin.pop("/llmrouter.v1.RouterAdminService/ListBudgets") == "inference"
    # ... which operators' admin tokens read too.
    assert ROUTER_SCOPES.also == {"/llmrouter.v1.RouterAdminService/ListBudgets": ("admin",)}
    assert set(admin.values()) == {"admin"}
    ledger = {m: METRICS_SCOPES.scope_of(m) for m in methods(metrics_service_pb2, "MetricsService")}
    assert ledger.pop("/llmrouter.v1.MetricsService/RecordUsage") == "record"
    # Scores of answers (gateway, evaluation judges) write no usage: a scope of their own.
    assert ledger.pop("/llmrouter.v1.MetricsService/RecordFeedback") == "feedback"
    assert set(ledger.values()) == {"read"}
    assert ROUTER_SCOPES.scope_of("/grpc.reflection.v1alpha.ServerReflection/Info") is None


def test_scoped_tokens_from_the_file_and_the_environment() -> None:
    document = {"router": {"auth_tokens": [{"env": "GW", "scopes": ["inference"]}]}}
    env = {"LLMROUTER_ROUTER_AUTH_TOKENS": "OPS:admin+inference"}
    config = router_config(None, document=document, environ=env)
    assert [(t.env, t.scopes) for t in config.auth_tokens] == [
        ("GW", ("inference",)),
        ("OPS", ("admin", "inference")),
    ]
    ledger = metrics_config(None, {"LLMROUTER_METRICS_AUTH_TOKENS": "R:record, Q:read"})
    assert [(t.env, t.scopes) for t in ledger.auth_tokens] == [("R", ("record",)), ("Q", ("read",))]


@pytest.mark.parametrize(
    ("document", "env", "message"),
    [
        (
            {"router": {"auth_tokens": [{"env": "GW", "scopes": ["inference", "root"]}]}},
            {},
            "router.auth_tokens[0].scopes[1]: not a scope of this service "
            "(one of inference, admin)",
        ),
        (
            {"router": {"auth_tokens": [{"env": "GW"}]}},
            {},
            "router.auth_tokens[0].scopes: name at least one scope",
        ),
        (
            {"router": {"client_certs": [{"client_cn": "gateway", "scopes": ["inference"]}]}},
            {},
            "router.client_certs: needs client certificates (set tls.client_ca_file)",
        ),
        (
            {},
            {"LLMROUTER_ROUTER_AUTH_TOKENS": "GW"},
            "LLMROUTER_ROUTER_AUTH_TOKENS: entry 1: expected ENV_NAME:scope[+scope...]",
        ),
        (
            {},
            {"LLMROUTER_ROUTER_AUTH_TOKENS": "GW:inference,OPS:record"},
            "LLMROUTER_ROUTER_AUTH_TOKENS: auth_tokens[1].scopes[0]: not a scope of this "
            "service (one of inference, admin)",
        ),
    ],
)
def test_bad_scoped_token_settings_name_the_key(
    document: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        router_config(None, document=document, environ=env)
    assert str(raised.value) == message


def test_metrics_scopes_are_its_own() -> None:
    with pytest.raises(ConfigError) as raised:
        metrics_config(None, {"LLMROUTER_METRICS_AUTH_TOKENS": "R:inference"})
    assert str(raised.value) == (
        "LLMROUTER_METRICS_AUTH_TOKENS: auth_tokens[0].scopes[0]: not a scope of this service "
        "(one of read, record, feedback)"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("router.internal", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# Checks on a real server: every kind of method, unlisted services, spans ------------------------

TOKEN = "tok-test-0123456789"
ECHO = "test.v1.EchoService"


def _echo_handlers() -> grpc.GenericRpcHandler:  # type: ignore[type-arg]
    """A service with one method of each kind, on raw bytes (no messages needed)."""

    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
        return b"".join([r async for r in requests])

    async def server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield request

    return grpc.method_handlers_generic_handler(
        ECHO,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        },
    )


@contextlib.asynccontextmanager
async def echo_server(table: ScopeTable) -> AsyncIterator[grpc.aio.Channel]:
    """A real server on loopback serving the echo service, its calls checked by a token
    holding every scope of ``table``; yields a channel to it."""
    authorizer = Authorizer.from_config(
        table, "test", auth_tokens=[TokenGrant("T", table.scopes)], environ={"T": TOKEN}
    )
    running = await start_grpc_server(
        "127.0.0.1:0",
        lambda server: server.add_generic_rpc_handlers([_echo_handlers()]),
        [ECHO],
        authorizer=authorizer,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield channel
    finally:
        await running.stop(0)


async def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        info, _ = rich_error(exc)
        return exc.code(), info.reason
    return grpc.StatusCode.OK, ""


def _calls(channel: grpc.aio.Channel, metadata: Any) -> dict[str, Any]:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    async def drained(stream: Any) -> list[bytes]:
        return [item async for item in stream]

    return {
        "Unary": channel.unary_unary(f"/{ECHO}/Unary")(b"x", metadata=metadata, timeout=10),
        "ClientStream": channel.stream_unary(f"/{ECHO}/ClientStream")(
            chunks(), metadata=metadata, timeout=10
        ),
        "ServerStream": drained(
            channel.unary_stream(f"/{ECHO}/ServerStream")(b"x", metadata=metadata, timeout=10)
        ),
    }


async def test_every_kind_of_method_is_checked() -> None:
    """A client-streaming method is checked like the others (it used to run unchecked)."""
    bearer = (("authorization", f"Bearer {TOKEN}"),)
    async with echo_server(ScopeTable(services={ECHO: "inference"})) as channel:
        for name, call in _calls(channel, None).items():
            assert await _code(call) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"), name
        for name, call in _calls(channel, bearer).items():
            assert await _code(call) == (grpc.StatusCode.OK, ""), name


async def test_a_service_missing_from_the_scope_table_is_refused_to_every_credential() -> None:
    bearer = (("authorization", f"Bearer {TOKEN}"),)
    async with echo_server(ScopeTable(services={"other.v1.Service": "inference"})) as channel:
        for name, call in _calls(channel, bearer).items():
            assert await _code(call) == (grpc.StatusCode.PERMISSION_DENIED, "METHOD_NOT_SCOPED"), (
                name
            )
        # Reflection needs a credential, any credential: v1alpha and v1 alike.
        ask = reflection_pb2.ServerReflectionRequest(list_services="")

        async def reflect(version: str, metadata: Any) -> grpc.StatusCode:
            call = channel.stream_stream(
                f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
            try:
                async for _ in call(iter([ask]), metadata=metadata):
                    pass
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        for version in ("v1alpha", "v1"):
            assert await reflect(version, None) == grpc.StatusCode.UNAUTHENTICATED, version
            assert await reflect(version, bearer) == grpc.StatusCode.OK, version


async def test_a_refused_call_opens_no_span(spans: InMemorySpanExporter) -> None:  # noqa: F811
    """The check runs before the tracing wrapper: anonymous callers cannot fill the traces."""
    bearer = (("authorization", f"Bearer {TOKEN}"),)
    async with echo_server(ScopeTable(services={ECHO: "inference"})) as channel:
        for call in _calls(channel, None).values():
            await _code(call)
        assert [s.name for s in spans.get_finished_spans()] == []
        unary = channel.unary_unary(f"/{ECHO}/Unary")
        assert await _code(unary(b"x", metadata=bearer, timeout=10)) == (grpc.StatusCode.OK, "")
    assert [s.name for s in spans.get_finished_spans()] == [f"{ECHO}/Unary"]


def test_full_access_tokens_are_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmrouter.access"):
        Authorizer.from_config(
            ROUTER_SCOPES, "router", auth_token_envs=["OPS"], environ={"OPS": TOKEN}
        )
    assert caplog.messages == [
        "router.auth_token_envs: each of these tokens may call every method (scopes inference, "
        "admin); give each caller only the scopes it needs with router.auth_tokens"
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LLMROUTER_ROUTER_AUTH_TOKENS": "GW:Zq9xLm2Pw8Rt5Yb7Nc3V"},
            "LLMROUTER_ROUTER_AUTH_TOKENS: auth_tokens[0].scopes[0]: not a scope of this "
            "service (one of inference, admin)",
        ),
        (
            {"LLMROUTER_ROUTER_AUTH_TOKENS": "sk-Zq9xLm2Pw8Rt5Yb7Nc3V:inference"},
            "LLMROUTER_ROUTER_AUTH_TOKENS: entry 1: env: not an environment variable name "
            "(letters, digits and _; name the variable that holds the token, not the token)",
        ),
    ],
)
def test_a_pasted_token_is_not_quoted(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        router_config(None, document={}, environ=env)
    assert str(raised.value) == message


async def test_a_refused_client_stream_gets_its_refusal_not_a_write_error() -> None:
    """A refusal sent while the client was still writing its stream surfaced as the client's
    own INTERNAL "Internal error from Core" (2 calls in 3,000 under load, 1 in 300 once in CI):
    the refused stream's first messages are read before the refusal goes out."""
    async with echo_server(ScopeTable(services={ECHO: "inference"})) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        codes: dict[grpc.StatusCode, int] = {}
        for _ in range(1500):
            try:
                async for _ in stub.ServerReflectionInfo(iter([ask]), timeout=10):
                    pass
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            codes[code] = codes.get(code, 0) + 1
        assert codes == {grpc.StatusCode.UNAUTHENTICATED: 1500}
