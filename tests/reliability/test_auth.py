"""Authentication end to end: API keys over HTTP (missing, wrong, revoked), bearer tokens between
the gRPC services, and TLS with client certificates (mTLS) from a throwaway CA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmrouter.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)

from .certs import CertFiles, make_ca
from .stack import gateway_section, metrics_section, router_section, stack, wait_usage

ALICE, BOB = "sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef"
ROUTER_TOKEN, METRICS_TOKEN = "rt-router-token-0123456789", "mt-metrics-token-0123456789"
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


async def chat(url: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post("/v1/chat/completions", json=BODY, headers=headers)


async def test_http_keys_missing_wrong_and_revoked(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start("router", "router", router_section(tmp_path, "r", metrics.port, ""))
        gateway_config = gateway_section([router.port], metrics.port)
        both = {"LLMROUTER_GATEWAY_API_KEYS": f"alice:{ALICE},bob:{BOB}"}
        gateway = await s.start("gateway", "gateway", gateway_config, env=both)

        for key in (None, "sk-wrong-0123456789"):
            refused = await chat(s.url, key)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
            assert refused.headers["www-authenticate"] == "Bearer"
        assert (await chat(s.url, ALICE)).status_code == 200
        assert (await chat(s.url, BOB)).status_code == 200

        # Revoke bob: the key leaves the configuration and the gateway restarts.
        assert await gateway.stop() == 0
        only_alice = {"LLMROUTER_GATEWAY_API_KEYS": f"alice:{ALICE}"}
        await s.start("gateway", "gateway", gateway_config, port=gateway.port, env=only_alice)
        assert (await chat(s.url, BOB)).status_code == 401
        assert (await chat(s.url, ALICE)).status_code == 200


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_grpc_services_require_their_bearer_token(tmp_path: Path) -> None:
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"alice:{ALICE}",
        "ROUTER_TOKEN": ROUTER_TOKEN,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    async with stack(tmp_path, env) as s:
        metrics = await s.start(
            "metrics",
            "metrics",
            metrics_section(tmp_path, 'auth_token_envs = ["METRICS_TOKEN"]'),
        )
        router_keys = 'auth_token_envs = ["ROUTER_TOKEN"]\nmetrics_token_env = "METRICS_TOKEN"'
        router = await s.start(
            "router", "router", router_section(tmp_path, "r", metrics.port, router_keys)
        )
        gateway_keys = 'router_token_env = "ROUTER_TOKEN"\nmetrics_token_env = "METRICS_TOKEN"'
        await s.start(
            "gateway", "gateway", gateway_section([router.port], metrics.port, gateway_keys)
        )
        # The gateway and the router present their tokens: the whole path works.
        assert (await chat(s.url, ALICE)).status_code == 200
        assert len(await wait_usage(s.metrics_db, 1)) == 1
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as http:
            costs = await http.get("/v1/costs", headers={"authorization": f"Bearer {ALICE}"})
        assert costs.status_code == 200, costs.text

        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as to_router,
            grpc.aio.insecure_channel(f"127.0.0.1:{metrics.port}") as to_metrics,
        ):
            models = router_service_pb2_grpc.RouterServiceStub(to_router).ListModels
            stream = router_service_pb2_grpc.RouterServiceStub(to_router).StreamComplete
            costs_rpc = metrics_service_pb2_grpc.MetricsServiceStub(to_metrics).QueryCosts
            list_models = router_service_pb2.ListModelsRequest()
            query = metrics_service_pb2.QueryCostsRequest()

            def bearer(token: str) -> tuple[tuple[str, str]]:
                return (("authorization", f"Bearer {token}"),)

            unauthenticated = grpc.StatusCode.UNAUTHENTICATED
            assert await _code(models(list_models, timeout=5)) == unauthenticated
            assert await _code(models(list_models, metadata=bearer("nope"))) == unauthenticated
            assert await _code(models(list_models, metadata=bearer(METRICS_TOKEN))) == (
                unauthenticated  # each service has its own token
            )
            assert await _code(models(list_models, metadata=bearer(ROUTER_TOKEN))) == (
                grpc.StatusCode.OK
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in stream(router_service_pb2.StreamCompleteRequest()):
                    pass
            assert refused.value.code() == unauthenticated
            assert await _code(costs_rpc(query, timeout=5)) == unauthenticated
            assert await _code(costs_rpc(query, metadata=bearer(METRICS_TOKEN))) == (
                grpc.StatusCode.OK
            )
            # Health stays open for load balancers and probes.
            health = await health_pb2_grpc.HealthStub(to_router).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_a_token_variable_that_is_not_set_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "router.toml"
    config.write_text('[router]\nport = 0\nauth_token_envs = ["LLMROUTER_TEST_UNSET_TOKEN"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "router_svc", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "router: router.auth_token_envs[0]: environment variable LLMROUTER_TEST_UNSET_TOKEN "
        "is not set or empty"
    )


async def test_mtls_between_every_service(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ca = make_ca(pki)
    router_server = ca.issue(pki, "router", server=True)
    metrics_server = ca.issue(pki, "metrics", server=True)
    gateway_client = ca.issue(pki, "gateway", server=False)
    router_client = ca.issue(pki, "router-client", server=False)

    def server_tls(table: str, files: CertFiles) -> str:
        return (
            f'[{table}]\ncert_file = "{files.cert}"\nkey_file = "{files.key}"\n'
            f'client_ca_file = "{ca.cert}"\n'
        )

    def client_tls(table: str, files: CertFiles) -> str:
        return (
            f'[{table}]\nca_file = "{ca.cert}"\n'
            f'cert_file = "{files.cert}"\nkey_file = "{files.key}"\n'
        )

    async with stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"alice:{ALICE}"}) as s:
        metrics = await s.start(
            "metrics",
            "metrics",
            metrics_section(tmp_path, server_tls("metrics.tls", metrics_server)),
        )
        router_tables = server_tls("router.tls", router_server) + client_tls(
            "router.metrics_tls", router_client
        )
        router = await s.start(
            "router", "router", router_section(tmp_path, "r", metrics.port, router_tables)
        )
        gateway_tables = client_tls("gateway.router_tls", gateway_client) + client_tls(
            "gateway.metrics_tls", gateway_client
        )
        # Started means /readyz said both services are SERVING: over mTLS.
        await s.start(
            "gateway", "gateway", gateway_section([router.port], metrics.port, gateway_tables)
        )
        assert (await chat(s.url, ALICE)).status_code == 200
        assert len(await wait_usage(s.metrics_db, 1)) == 1  # router -> metrics over mTLS

        target = f"127.0.0.1:{router.port}"
        request = router_service_pb2.ListModelsRequest()
        ca_pem = ca.cert.read_bytes()
        anonymous = grpc.ssl_channel_credentials(root_certificates=ca_pem)
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=ca_pem,
            private_key=gateway_client.key.read_bytes(),
            certificate_chain=gateway_client.cert.read_bytes(),
        )
        async with grpc.aio.insecure_channel(target) as plaintext:
            stub = router_service_pb2_grpc.RouterServiceStub(plaintext)
            assert await _code(stub.ListModels(request, timeout=3)) == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.secure_channel(target, anonymous) as no_cert:
            stub = router_service_pb2_grpc.RouterServiceStub(no_cert)
            assert await _code(stub.ListModels(request, timeout=3)) == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.secure_channel(target, with_cert) as mutual:
            stub = router_service_pb2_grpc.RouterServiceStub(mutual)
            assert await _code(stub.ListModels(request, timeout=3)) == grpc.StatusCode.OK
