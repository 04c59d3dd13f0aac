"""docker-compose.yml cannot run here (no Docker engine); check it against what the code reads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from gateway.config import GatewayConfig
from llmrouter.access import Authorizer
from llmrouter.config import env_names
from metrics_svc.config import SCOPES as METRICS_SCOPES
from metrics_svc.config import MetricsConfig
from router_svc.config import SCOPES as ROUTER_SCOPES
from router_svc.config import RouterConfig

ROOT = Path(__file__).resolve().parents[1]
SECTIONS: dict[str, tuple[type[Any], str]] = {
    "router": (RouterConfig, "router"),
    "metrics": (MetricsConfig, "metrics"),
    "gateway": (GatewayConfig, "gateway"),
}
OTEL = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME"}
# Variables holding the gRPC tokens, named by the *_token_env and auth_tokens settings.
TOKENS = {
    "LLMROUTER_INFERENCE_TOKEN",
    "LLMROUTER_ADMIN_TOKEN",
    "LLMROUTER_RECORD_TOKEN",
    "LLMROUTER_READ_TOKEN",
}
# Variables read outside the config dataclasses (the gateway hashes its keys at start; the
# servers' auth_tokens shortcuts).
EXTRA_ENV = {
    "gateway": {"LLMROUTER_GATEWAY_API_KEYS", "LLMROUTER_GATEWAY_ADMIN_API_KEYS"} | TOKENS,
    "router": {"LLMROUTER_ROUTER_AUTH_TOKENS"} | TOKENS,
    "metrics": {"LLMROUTER_METRICS_AUTH_TOKENS"} | TOKENS,
}
PROVIDER_KEYS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_present() -> None:
    services = compose()["services"]
    assert {"router", "metrics", "gateway", "postgres", "jaeger"} <= set(services)
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_commands_env_and_ports_match_the_code() -> None:
    services = compose()["services"]
    for name, (cls, section) in SECTIONS.items():
        service = services[name]
        assert service["command"] == ["serve", name]
        env = service["environment"]
        ours = {k for k in env if k.startswith("LLMROUTER_")}
        unknown = ours - env_names(cls, section) - EXTRA_ENV.get(name, set())
        assert not unknown, f"{name}: compose sets variables the code never reads: {unknown}"
        assert set(env) - ours <= OTEL | PROVIDER_KEYS, set(env) - ours
        assert env[f"LLMROUTER_{section.upper()}_HOST"] == "0.0.0.0"
        port = int(env[f"LLMROUTER_{section.upper()}_PORT"])
        default_port = next(f.default for f in dataclasses.fields(cls) if f.name == "port")
        assert port == default_port
        if name == "gateway":
            assert f"{port}:{port}" in service["ports"]
        else:  # gRPC services: reachable from the compose network only
            assert "ports" not in service, f"{name} publishes its port on the host"
            assert service["expose"] == [str(port)]


def test_addresses_point_at_the_right_services() -> None:
    services = compose()["services"]
    router_env = services["router"]["environment"]
    gateway_env = services["gateway"]["environment"]
    metrics_port = services["metrics"]["environment"]["LLMROUTER_METRICS_PORT"]
    router_port = services["router"]["environment"]["LLMROUTER_ROUTER_PORT"]
    assert router_env["LLMROUTER_ROUTER_METRICS_ADDRESS"] == f"metrics:{metrics_port}"
    assert gateway_env["LLMROUTER_GATEWAY_ROUTER_ADDRESSES"] == f"router:{router_port}"
    assert gateway_env["LLMROUTER_GATEWAY_METRICS_ADDRESS"] == f"metrics:{metrics_port}"
    db = services["metrics"]["environment"]["LLMROUTER_METRICS_DATABASE_URL"]
    pg = services["postgres"]["environment"]
    assert db == (
        f"postgresql+asyncpg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{pg['POSTGRES_DB']}"
    )
    assert services["metrics"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_gateway_keys_are_required_and_actually_read() -> None:
    """Compose refuses to start without keys, and the gateway reads that variable."""
    from gateway.config import load_config

    value = compose()["services"]["gateway"]["environment"]["LLMROUTER_GATEWAY_API_KEYS"]
    assert value.startswith("${LLMROUTER_GATEWAY_API_KEYS:?")
    config = load_config(None, {"LLMROUTER_GATEWAY_API_KEYS": "team:secret-key-123"})
    assert [k.id for k in config.api_keys] == ["team"]
    assert "secret-key-123" not in repr(config)
    # Admin keys are optional in compose and read from the same kind of variable.
    admin = compose()["services"]["gateway"]["environment"]["LLMROUTER_GATEWAY_ADMIN_API_KEYS"]
    assert admin == "${LLMROUTER_GATEWAY_ADMIN_API_KEYS:-}"
    config = load_config(
        None,
        {
            "LLMROUTER_GATEWAY_API_KEYS": "team:secret-key-123",
            "LLMROUTER_GATEWAY_ADMIN_API_KEYS": "ops:admin-key-456",
        },
    )
    assert {(k.id, k.admin) for k in config.api_keys} == {("team", False), ("ops", True)}


def _interpolated(env: dict[str, str]) -> dict[str, str]:
    """``env`` as compose hands it over when every required variable is set (to a value
    derived from its name) and no optional one is."""

    def value(match: re.Match[str]) -> str:
        name, sep, rest = match.group(1), match.group(2), match.group(3)
        return f"value-of-{name}" if sep == ":?" else rest

    pattern = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:\?|:-)([^}]*)\}")
    return {k: pattern.sub(value, str(v)) for k, v in env.items()}


def _published(port: object) -> tuple[str, int]:
    """(host address, host port) of a short-syntax port mapping ("" host: every interface)."""
    parts = str(port).split(":")
    if len(parts) == 1:
        return "", int(parts[0])  # a container port published on an ephemeral host port
    host = parts[0] if len(parts) == 3 else ""
    return host, int(parts[-2])


def test_only_the_gateway_listens_beyond_this_machine() -> None:
    """Jaeger's OTLP intake takes spans from anyone without a credential: it is not published,
    and its UI is published on loopback only."""
    services = compose()["services"]
    published = {
        name: [_published(p) for p in service.get("ports", ())]
        for name, service in services.items()
    }
    assert published["jaeger"] == [("127.0.0.1", 16686)]
    beyond = {name for name, ports in published.items() for host, _ in ports if host == ""}
    assert beyond == {"gateway"}
    assert services["gateway"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        "http://jaeger:4317"
    )


def test_grpc_ports_are_closed_to_the_network() -> None:
    """No internal port is published, every gRPC server listening on 0.0.0.0 requires a
    credential, and each caller's token has exactly the scopes it needs."""
    from gateway.config import load_config as gateway_config
    from metrics_svc.config import load_config as metrics_config
    from router_svc.config import load_config as router_config

    services = compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published <= {"gateway", "jaeger"}, published
    env = {name: _interpolated(services[name]["environment"]) for name in SECTIONS}
    for name in TOKENS:  # compose refuses to start without each token
        raw = [
            str(s["environment"][name])
            for s in services.values()
            if name in s.get("environment", {})
        ]
        assert raw, name
        assert all(v.startswith(f"${{{name}:?") for v in raw), (name, raw)

    router = router_config(None, document={}, environ=env["router"])
    metrics = metrics_config(None, env["metrics"])
    gateway_env = {k: v for k, v in env["gateway"].items() if k != "LLMROUTER_GATEWAY_API_KEYS"}
    gateway = gateway_config(None, gateway_env)
    assert (router.host, metrics.host) == ("0.0.0.0", "0.0.0.0")
    router_access = Authorizer.from_config(
        ROUTER_SCOPES,
        "router",
        auth_token_envs=router.auth_token_envs,
        auth_tokens=router.auth_tokens,
        environ=env["router"],
    )
    metrics_access = Authorizer.from_config(
        METRICS_SCOPES,
        "metrics",
        auth_token_envs=metrics.auth_token_envs,
        auth_tokens=metrics.auth_tokens,
        environ=env["metrics"],
    )
    assert router_access is not None, "the router on 0.0.0.0 accepts anonymous calls"
    assert metrics_access is not None, "metrics on 0.0.0.0 accepts anonymous calls"

    def token(service: str, variable: str) -> str:
        return env[service][variable]

    # What each caller's token may do, where it is checked.
    gateway_inference = token("gateway", gateway.router_token_env)
    gateway_admin = token("gateway", gateway.router_admin_token_env)
    gateway_read = token("gateway", gateway.metrics_token_env)
    router_record = token("router", router.metrics_token_env)
    assert router_access.scopes_of_token(gateway_inference) == {"inference"}
    assert router_access.scopes_of_token(gateway_admin) == {"admin"}
    assert metrics_access.scopes_of_token(router_record) == {"record"}
    assert metrics_access.scopes_of_token(gateway_read) == {"read"}
    assert router_access.scopes_of_token(router_record) is None
    assert metrics_access.scopes_of_token(gateway_inference) is None
