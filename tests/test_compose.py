"""docker-compose.yml cannot run here (no Docker engine); check it against what the code reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from gateway.config import GatewayConfig
from llmrouter.config import env_names
from metrics_svc.config import MetricsConfig
from router_svc.config import RouterConfig

ROOT = Path(__file__).resolve().parents[1]
SECTIONS: dict[str, tuple[type[Any], str]] = {
    "router": (RouterConfig, "router"),
    "metrics": (MetricsConfig, "metrics"),
    "gateway": (GatewayConfig, "gateway"),
}
OTEL = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME"}
# Variables read outside the config dataclasses (the gateway hashes its keys at start).
EXTRA_ENV = {"gateway": {"LLMROUTER_GATEWAY_API_KEYS"}}
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
        assert f"{port}:{port}" in service["ports"]


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
