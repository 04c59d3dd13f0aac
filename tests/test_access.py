"""The scope tables cover every RPC, and scoped-token settings fail at start naming the key."""

from __future__ import annotations

import pytest

from llmrouter.access import is_loopback
from llmrouter.config import ConfigError
from llmrouter.v1 import metrics_service_pb2, router_admin_service_pb2, router_service_pb2
from metrics_svc.config import SCOPES as METRICS_SCOPES
from metrics_svc.config import load_config as metrics_config
from router_svc.config import SCOPES as ROUTER_SCOPES
from router_svc.config import load_config as router_config


def methods(module: object, service: str) -> list[str]:
    descriptor = module.DESCRIPTOR.services_by_name[service]  # type: ignore[attr-defined]
    return [f"/{descriptor.full_name}/{m.name}" for m in descriptor.methods]


def test_every_rpc_needs_the_scope_its_holder_has() -> None:
    router = {m: ROUTER_SCOPES.scope_of(m) for m in methods(router_service_pb2, "RouterService")}
    assert set(router.values()) == {"inference"}
    assert len(router) == 4  # Route, Complete, StreamComplete, ListModels
    admin = methods(router_admin_service_pb2, "RouterAdminService")
    assert {ROUTER_SCOPES.scope_of(m) for m in admin} == {"admin"}
    ledger = {m: METRICS_SCOPES.scope_of(m) for m in methods(metrics_service_pb2, "MetricsService")}
    assert ledger.pop("/llmrouter.v1.MetricsService/RecordUsage") == "record"
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
            "router.auth_tokens[0].scopes[1]: unknown scope 'root' (one of inference, admin)",
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
            "LLMROUTER_ROUTER_AUTH_TOKENS: auth_tokens[1].scopes[0]: unknown scope 'record' "
            "(one of inference, admin)",
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
        "LLMROUTER_METRICS_AUTH_TOKENS: auth_tokens[0].scopes[0]: unknown scope 'inference' "
        "(one of read, record)"
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
