"""Closed by default and scoped credentials on the gRPC ports, with real processes: a service
reachable beyond loopback refuses to start without credentials, and each token or client
certificate may call only the methods of its scopes (router: inference, admin; metrics:
record, read)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llmrouter.v1 import (
    chat_pb2,
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    router_admin_service_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)
from tests.metrics_svc.support import rich_error, usage_record

from .certs import CertFiles, make_ca
from .stack import gateway_section, metrics_section, router_section, stack, usage_rows, wait_usage

INFERENCE, ADMIN, FULL = "tok-inference-0123456789", "tok-admin-0123456789", "tok-full-0123456789"
RECORD, READ = "tok-record-0123456789", "tok-read-0123456789"
TOKENS = {
    "INFERENCE_TOKEN": INFERENCE,
    "ADMIN_TOKEN": ADMIN,
    "FULL_TOKEN": FULL,
    "RECORD_TOKEN": RECORD,
    "READ_TOKEN": READ,
}
OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED


def bearer(token: str) -> tuple[tuple[str, str]] | None:
    return (("authorization", f"Bearer {token}"),) if token else None


async def outcome(call: Any) -> tuple[grpc.StatusCode, grpc.aio.AioRpcError | None]:
    """The status of a unary call, and the error when it failed."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc
    return OK, None


async def code(call: Any) -> grpc.StatusCode:
    return (await outcome(call))[0]


async def assert_scope_missing(call: Any, scope: str, method: str) -> None:
    """PERMISSION_DENIED naming the missing scope and the method, never a token."""
    status, error = await outcome(call)
    assert status == DENIED
    assert error is not None
    info, _ = rich_error(error)
    assert (info.reason, info.domain) == ("SCOPE_MISSING", "llmrouter")
    assert dict(info.metadata) == {"scope": scope, "method": method}
    assert f"needs scope '{scope}'" in (error.details() or "")
    for token in TOKENS.values():
        assert token not in str(error.details()) + str(error.trailing_metadata())


def chat() -> router_service_pb2.CompleteRequest:
    message = chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")
    return router_service_pb2.CompleteRequest(
        chat=chat_pb2.ChatRequest(model="auto", messages=[message])
    )


# Closed by default ---------------------------------------------------------------------------


def _run(module: str, config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=20,  # today's main would start and serve here
        env={"PATH": "/usr/bin:/bin", **env},
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "router.internal"])
def test_a_router_beyond_loopback_without_credentials_refuses_to_start(
    tmp_path: Path, host: str
) -> None:
    config = tmp_path / "router.toml"
    config.write_text(
        router_section(tmp_path, "r", 1, "").replace("{port}", "0") + f'host = "{host}"\n'
    )
    done = _run("router_svc", config, {})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"router: router.host: {host} is reachable beyond loopback, so callers need "
        "credentials: set router.auth_tokens (or router.auth_token_envs) or "
        "router.tls.client_ca_file (mTLS), or listen on 127.0.0.1"
    )


def test_metrics_beyond_loopback_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "metrics.toml"
    config.write_text(metrics_section(tmp_path, 'host = "0.0.0.0"').replace("{port}", "0"))
    done = _run("metrics_svc", config, {})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "metrics: metrics.host: 0.0.0.0 is reachable beyond loopback, so callers need "
        "credentials: set metrics.auth_tokens (or metrics.auth_token_envs) or "
        "metrics.tls.client_ca_file (mTLS), or listen on 127.0.0.1"
    )
    assert not (tmp_path / "metrics.sqlite3").exists()  # refused before opening anything


def test_mtls_beyond_loopback_needs_scoped_certificates(tmp_path: Path) -> None:
    """A client CA alone would give every certificate it signed every scope: refused."""
    body = (
        'host = "0.0.0.0"\n[router.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\n'
        'client_ca_file = "ca.pem"\n'
    )
    config = tmp_path / "router.toml"
    config.write_text(router_section(tmp_path, "r", 1, body).replace("{port}", "0"))
    done = _run("router_svc", config, {})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "router: router.client_certs: router.host 0.0.0.0 is reachable beyond loopback and "
        "tls.client_ca_file alone would let every certificate the CA signed call every method: "
        "name the certificates and their scopes in router.client_certs (or set "
        "router.auth_tokens), or listen on 127.0.0.1"
    )


# A token set where a variable's name or a scope belongs: a random token may look like a name.
PASTED = "Zq9xLm2Pw8Rt5Yb7Nc3VdF6gH1jK4"
PASTED_SK = "sk-proj-Zq9xLm2Pw8Rt5Yb7Nc3VdF6gH1jK4"


@pytest.mark.parametrize(
    ("module", "env", "key"),
    [
        (
            "router_svc",
            {"LLMROUTER_ROUTER_AUTH_TOKENS": f"GW:{PASTED}"},
            "auth_tokens[0].scopes[0]",
        ),
        ("router_svc", {"LLMROUTER_ROUTER_AUTH_TOKENS": f"{PASTED_SK}:inference"}, "entry 1: env"),
        ("router_svc", {"LLMROUTER_ROUTER_AUTH_TOKEN_ENVS": PASTED}, "auth_token_envs[0]"),
        ("router_svc", {"LLMROUTER_ROUTER_AUTH_TOKEN_ENVS": PASTED_SK}, "auth_token_envs[0]"),
        ("router_svc", {"LLMROUTER_ROUTER_METRICS_TOKEN_ENV": PASTED}, "metrics_token_env"),
        ("router_svc", {"LLMROUTER_ROUTER_PORT": PASTED}, "LLMROUTER_ROUTER_PORT"),
        ("metrics_svc", {"LLMROUTER_METRICS_AUTH_TOKENS": f"R:{PASTED}"}, "scopes[0]"),
        ("gateway", {"LLMROUTER_GATEWAY_API_KEYS": f"{PASTED_SK * 2}:ci"}, "entry 1: id"),
        (
            "gateway",
            {
                "LLMROUTER_GATEWAY_API_KEYS": "ci:sk-ci",
                "LLMROUTER_GATEWAY_ROUTER_TOKEN_ENV": PASTED,
            },
            "router_token_env",
        ),
    ],
)
def test_a_token_set_in_the_wrong_place_is_never_printed(
    tmp_path: Path, module: str, env: dict[str, str], key: str
) -> None:
    sections = {
        "router_svc": router_section(tmp_path, "r", 1, ""),
        "metrics_svc": metrics_section(tmp_path),
        "gateway": gateway_section([1], 1),
    }
    config = tmp_path / "service.toml"
    config.write_text(sections[module].replace("{port}", "0"))
    done = _run(module, config, env)
    assert done.returncode == 2, done.stderr
    assert key in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for secret in (PASTED, PASTED_SK, PASTED.lower()):
        assert secret not in done.stderr


async def test_beyond_loopback_with_tokens_starts_and_refuses_anonymous_calls(
    tmp_path: Path,
) -> None:
    env = TOKENS | {
        "LLMROUTER_METRICS_AUTH_TOKENS": "RECORD_TOKEN:record,READ_TOKEN:read",
        "LLMROUTER_ROUTER_AUTH_TOKENS": "INFERENCE_TOKEN:inference",
    }
    async with stack(tmp_path, env) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path, 'host = "0.0.0.0"'))
        router_body = 'host = "0.0.0.0"\nmetrics_token_env = "RECORD_TOKEN"'
        router = await s.start(
            "router", "router", router_section(tmp_path, "r", metrics.port, router_body)
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel:
            stub = router_service_pb2_grpc.RouterServiceStub(channel)
            assert await code(stub.Complete(chat(), timeout=10)) == UNAUTHENTICATED
            assert await code(stub.Complete(chat(), metadata=bearer(INFERENCE))) == OK
        # The router's record token delivered the usage of that one call.
        assert len(await wait_usage(s.metrics_db, 1)) == 1


# Scopes on the router --------------------------------------------------------------------------


async def test_router_tokens_may_call_only_their_scopes(tmp_path: Path) -> None:
    body = (
        'auth_token_envs = ["FULL_TOKEN"]\n'
        "auth_tokens = [\n"
        '  { env = "INFERENCE_TOKEN", scopes = ["inference"] },\n'
        '  { env = "ADMIN_TOKEN", scopes = ["admin"] },\n'
        "]\n"
        "record_usage = false\n"
    )
    async with stack(tmp_path, TOKENS) as s:
        router = await s.start("router", "router", router_section(tmp_path, "r", 1, body))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel:
            router_stub = router_service_pb2_grpc.RouterServiceStub(channel)
            admin_stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
            disable = router_admin_service_pb2.SetModelEnabledRequest(
                model="sim-small", enabled=False
            )
            health = router_admin_service_pb2.ListModelHealthRequest()
            models = router_service_pb2.ListModelsRequest()

            # No token, an unknown one, or a malformed header: UNAUTHENTICATED.
            for metadata in (None, bearer("tok-unknown-0123456789"), (("authorization", "x"),)):
                assert await code(router_stub.Complete(chat(), metadata=metadata)) == (
                    UNAUTHENTICATED
                )
                assert await code(admin_stub.SetModelEnabled(disable, metadata=metadata)) == (
                    UNAUTHENTICATED
                )

            # The gateway's token serves completions and may not touch the admin service.
            done = await router_stub.Complete(chat(), metadata=bearer(INFERENCE))
            assert done.model == "sim-small"
            assert await code(router_stub.ListModels(models, metadata=bearer(INFERENCE))) == OK
            await assert_scope_missing(
                admin_stub.SetModelEnabled(disable, metadata=bearer(INFERENCE)),
                "admin",
                "/llmrouter.v1.RouterAdminService/SetModelEnabled",
            )
            await assert_scope_missing(
                admin_stub.ListModelHealth(health, metadata=bearer(INFERENCE)),
                "admin",
                "/llmrouter.v1.RouterAdminService/ListModelHealth",
            )
            listed = await admin_stub.ListModelHealth(health, metadata=bearer(ADMIN))
            assert {m.model: m.enabled for m in listed.models}["sim-small"] is True
            # Budgets are a read both need: the gateway shows a key its own (/v1/usage, with
            # its inference token), an operator lists them all (/v1/admin/budgets, the CLI).
            budgets = router_admin_service_pb2.ListBudgetsRequest()
            for token in (INFERENCE, ADMIN):
                assert await code(admin_stub.ListBudgets(budgets, metadata=bearer(token))) == OK

            # The admin token administers, and does not buy completions.
            await assert_scope_missing(
                router_stub.Complete(chat(), metadata=bearer(ADMIN)),
                "inference",
                "/llmrouter.v1.RouterService/Complete",
            )
            with pytest.raises(grpc.aio.AioRpcError) as streamed:
                async for _ in router_stub.StreamComplete(
                    router_service_pb2.StreamCompleteRequest(chat=chat().chat),
                    metadata=bearer(ADMIN),
                ):
                    pass
            assert streamed.value.code() == DENIED
            # Nor embeddings: Embed is an inference method too.
            embed = router_service_pb2.EmbedRequest(model="sim-embed", inputs=["hi"])
            await assert_scope_missing(
                router_stub.Embed(embed, metadata=bearer(ADMIN)),
                "inference",
                "/llmrouter.v1.RouterService/Embed",
            )
            embedded = await router_stub.Embed(embed, metadata=bearer(INFERENCE))
            assert embedded.model == "sim-embed"
            assert await code(admin_stub.SetModelEnabled(disable, metadata=bearer(ADMIN))) == OK

            # auth_token_envs keep their meaning: every scope.
            enable = router_admin_service_pb2.SetModelEnabledRequest(
                model="sim-small", enabled=True
            )
            assert await code(admin_stub.SetModelEnabled(enable, metadata=bearer(FULL))) == OK
            assert await code(router_stub.Complete(chat(), metadata=bearer(FULL))) == OK

            # Reflection needs an accepted token, whatever its scope.
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            ask = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                async for _ in reflection.ServerReflectionInfo(iter([ask]), timeout=5):
                    pass
            assert anonymous.value.code() == UNAUTHENTICATED
            answers = [
                a
                async for a in reflection.ServerReflectionInfo(
                    iter([ask]), metadata=bearer(INFERENCE), timeout=5
                )
            ]
            names = {s.name for s in answers[0].list_services_response.service}
            assert "llmrouter.v1.RouterAdminService" in names


# Scopes on the metrics service -----------------------------------------------------------------


async def test_only_a_record_token_writes_the_ledger(tmp_path: Path) -> None:
    tokens = (
        "auth_tokens = [\n"
        '  { env = "RECORD_TOKEN", scopes = ["record"] },\n'
        '  { env = "READ_TOKEN", scopes = ["read"] },\n'
        "]\n"
    )
    async with stack(tmp_path, TOKENS) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path, tokens))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{metrics.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)

            def record(n: int) -> metrics_service_pb2.RecordUsageRequest:
                return metrics_service_pb2.RecordUsageRequest(
                    records=[usage_record(f"r{n}:1", time=None)]
                )

            assert await code(stub.RecordUsage(record(1))) == UNAUTHENTICATED
            assert await code(stub.RecordUsage(record(2), metadata=bearer("nope-0123456789"))) == (
                UNAUTHENTICATED
            )
            await assert_scope_missing(
                stub.RecordUsage(record(3), metadata=bearer(READ)),
                "record",
                "/llmrouter.v1.MetricsService/RecordUsage",
            )
            assert usage_rows(s.metrics_db) == []
            assert await code(stub.RecordUsage(record(4), metadata=bearer(RECORD))) == OK
            assert [row[0] for row in usage_rows(s.metrics_db)] == ["r4:1"]

            query = metrics_service_pb2.QueryCostsRequest()
            assert await code(stub.QueryCosts(query)) == UNAUTHENTICATED
            costs = await stub.QueryCosts(query, metadata=bearer(READ))
            assert costs.totals.requests == 1
            await assert_scope_missing(
                stub.QueryCosts(query, metadata=bearer(RECORD)),
                "read",
                "/llmrouter.v1.MetricsService/QueryCosts",
            )
            health = metrics_service_pb2.GetProviderHealthRequest()
            assert await code(stub.GetProviderHealth(health, metadata=bearer(READ))) == OK
            await assert_scope_missing(
                stub.GetProviderHealth(health, metadata=bearer(RECORD)),
                "read",
                "/llmrouter.v1.MetricsService/GetProviderHealth",
            )


# The gateway with scoped tokens --------------------------------------------------------------


async def test_gateway_sends_each_service_its_scoped_token(tmp_path: Path) -> None:
    """The compose layout: gateway inference + admin + read tokens, router record token."""
    env = TOKENS | {
        "LLMROUTER_METRICS_AUTH_TOKENS": "RECORD_TOKEN:record,READ_TOKEN:read",
        "LLMROUTER_ROUTER_AUTH_TOKENS": "INFERENCE_TOKEN:inference,ADMIN_TOKEN:admin",
    }
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    async with stack(tmp_path, env) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start(
            "router",
            "router",
            router_section(tmp_path, "r", metrics.port, 'metrics_token_env = "RECORD_TOKEN"'),
        )
        keys = (
            "auth_enabled = false\n"
            'router_token_env = "INFERENCE_TOKEN"\n'
            'router_admin_token_env = "ADMIN_TOKEN"\n'
            'metrics_token_env = "READ_TOKEN"\n'
        )
        config = gateway_section([router.port], metrics.port, keys)
        gateway = await s.start("gateway", "gateway", config)
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as http:
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
            assert len(await wait_usage(s.metrics_db, 1)) == 1  # the router's record token
            assert (await http.get("/v1/costs")).status_code == 200  # the read token
            assert (await http.get("/v1/admin/models")).status_code == 200  # the admin token
            # The router's audit log names the token by its variable, never by its value.
            switched = await http.post(
                "/v1/admin/models/sim-small/enabled", json={"enabled": False}
            )
            assert switched.status_code == 200
            audit = await http.get("/v1/admin/audit")
            assert [(e["action"], e["actor"], e["api_key_id"]) for e in audit.json()["events"]] == [
                ("set_model_enabled", "token:ADMIN_TOKEN", None)
            ]
            assert ADMIN not in audit.text

        # Without its admin token the gateway's inference token is refused the admin service:
        # the gateway's fault, not the client's, so a 502 (gateway/errors.py).
        assert await gateway.stop() == 0
        without_admin = config.replace('router_admin_token_env = "ADMIN_TOKEN"\n', "")
        await s.start("gateway", "gateway", without_admin, port=gateway.port)
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as http:
            refused = await http.get("/v1/admin/models")
            assert refused.status_code == 502, refused.text
            assert refused.json()["error"]["code"] == "gateway_not_authorized"
            assert INFERENCE not in refused.text
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200


# Client certificates by common name --------------------------------------------------------------


async def test_client_certificates_are_scoped_by_common_name(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ca = make_ca(pki)
    server = ca.issue(pki, "router", server=True)
    gateway = ca.issue(pki, "gateway", server=False)
    operator = ca.issue(pki, "operator", server=False)
    stranger = ca.issue(pki, "stranger", server=False)
    body = (
        "record_usage = false\n"
        'client_certs = [{ client_cn = "gateway", scopes = ["inference"] },'
        ' { client_cn = "operator", scopes = ["admin"] }]\n'
        f'[router.tls]\ncert_file = "{server.cert}"\nkey_file = "{server.key}"\n'
        f'client_ca_file = "{ca.cert}"\n'
    )
    ca_pem = ca.cert.read_bytes()

    def channel(files: CertFiles) -> grpc.aio.Channel:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca_pem,
            private_key=files.key.read_bytes(),
            certificate_chain=files.cert.read_bytes(),
        )
        return grpc.aio.secure_channel(f"127.0.0.1:{router.port}", credentials)

    health = router_admin_service_pb2.ListModelHealthRequest()
    async with stack(tmp_path) as s:
        router = await s.start("router", "router", router_section(tmp_path, "r", 1, body))
        async with channel(gateway) as as_gateway:
            serving = router_service_pb2_grpc.RouterServiceStub(as_gateway)
            admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(as_gateway)
            assert await code(serving.Complete(chat(), timeout=10)) == OK
            await assert_scope_missing(
                admin.ListModelHealth(health),
                "admin",
                "/llmrouter.v1.RouterAdminService/ListModelHealth",
            )
        async with channel(operator) as as_operator:
            admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(as_operator)
            assert await code(admin.ListModelHealth(health, timeout=10)) == OK
            # Changes are audited under the certificate's common name.
            switch = router_admin_service_pb2.SetModelEnabledRequest(model="sim-small")
            await admin.SetModelEnabled(switch, timeout=10)
            audit = await admin.ListAuditEvents(
                router_admin_service_pb2.ListAuditEventsRequest(), timeout=10
            )
            assert [(e.action, e.actor) for e in audit.events] == [
                ("set_model_enabled", "cert:operator")
            ]
            serving = router_service_pb2_grpc.RouterServiceStub(as_operator)
            assert await code(serving.Complete(chat())) == DENIED
        async with channel(stranger) as as_stranger:
            serving = router_service_pb2_grpc.RouterServiceStub(as_stranger)
            assert await code(serving.Complete(chat(), timeout=10)) == UNAUTHENTICATED
