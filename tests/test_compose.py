"""docker-compose.yml cannot run here (no Docker engine); check it against what the code reads,
and run its healthcheck commands against real servers."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from grpc_health.v1 import health_pb2

from gateway.config import GatewayConfig
from llmrouter.access import Authorizer
from llmrouter.config import env_names
from llmrouter.serving import start_grpc_server
from llmrouter.shared_state import StateConfig, load_state_config
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
# The variable state.redis_password_env names in compose.
REDIS_PASSWORD = "LLMROUTER_REDIS_PASSWORD"
# Router and gateway share the [state] store: its section and its password.
STATE_ENV = env_names(StateConfig, "state") | {REDIS_PASSWORD}
# Variables read outside the config dataclasses (the gateway hashes its keys at start; the
# servers' auth_tokens shortcuts).
EXTRA_ENV = {
    "gateway": {"LLMROUTER_GATEWAY_API_KEYS", "LLMROUTER_GATEWAY_ADMIN_API_KEYS"}
    | TOKENS
    | STATE_ENV,
    "router": {"LLMROUTER_ROUTER_AUTH_TOKENS"} | TOKENS | STATE_ENV,
    "metrics": {"LLMROUTER_METRICS_AUTH_TOKENS"} | TOKENS,
}
PROVIDER_KEYS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_services_present() -> None:
    services = compose()["services"]
    assert {"router", "metrics", "gateway", "postgres", "redis", "jaeger"} <= set(services)
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
    assert router_access.scopes_of_token(gateway_inference) == frozenset({"inference"})
    assert router_access.scopes_of_token(gateway_admin) == frozenset({"admin"})
    # The router records usage, reads it back (budgets, quality estimates) and its judges
    # score answers; the gateway reads and stores users' feedback.
    assert metrics_access.scopes_of_token(router_record) == frozenset(
        {"record", "read", "feedback"}
    )
    assert metrics_access.scopes_of_token(gateway_read) == frozenset({"read", "feedback"})
    assert router_access.scopes_of_token(router_record) is None
    assert metrics_access.scopes_of_token(gateway_inference) is None


# -- healthchecks, restarts, volumes, the shared state store --------------------------------


def test_every_service_has_a_healthcheck_and_restarts() -> None:
    """`docker compose up --wait` and `depends_on: service_healthy` need a healthcheck on
    every service; a crashed service comes back by itself."""
    services = compose()["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name}: no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
        assert service.get("restart") == "unless-stopped", name
    # Each service starts once what it calls answers its healthcheck.
    depends = {name: s.get("depends_on", {}) for name, s in services.items()}
    assert depends["router"] == {
        "metrics": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert {k: v["condition"] for k, v in depends["gateway"].items()} == {
        "router": "service_healthy",
        "metrics": "service_healthy",
        "redis": "service_healthy",
    }


def test_router_state_is_on_a_named_volume() -> None:
    """The outbox and the runtime admin state survive `docker compose down` / `up`: both
    files the router's config names are on a named volume."""
    from router_svc.config import load_config as router_config

    document = compose()
    router = document["services"]["router"]
    env = _interpolated(router["environment"])
    config = router_config(None, document={}, environ=env)
    mounts = dict(str(v).split(":", 1)[::-1] for v in router["volumes"])
    for key in ("outbox_path", "state_path"):
        directory = str(Path(getattr(config, key)).parent)
        assert directory in mounts, f"router.{key} = {getattr(config, key)} is not on a volume"
        assert mounts[directory] in document["volumes"], "not a named volume"


def test_redis_is_private_and_shared_with_its_password() -> None:
    """Router and gateway load [state] from their environment: Redis at the compose service,
    its password from the same required variable the server takes it from; Redis publishes
    no port."""
    services = compose()["services"]
    redis = services["redis"]
    assert redis["image"] == "redis:7"
    assert "ports" not in redis
    server_password = redis["environment"]["REDISCLI_AUTH"]
    assert server_password.startswith(f"${{{REDIS_PASSWORD}:?")
    assert '"$$REDISCLI_AUTH"' in redis["command"][-1]  # expanded by sh, not by compose
    for name in ("router", "gateway"):
        raw = services[name]["environment"]
        assert raw[REDIS_PASSWORD] == server_password, name
        env = _interpolated(raw)
        state = load_state_config({}, env)
        assert state.backend == "redis"
        assert state.redis_url == "redis://redis:6379/0"
        assert env[state.redis_password_env] == f"value-of-{REDIS_PASSWORD}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthcheck(service: str, port: int) -> list[str]:
    """The service's healthcheck as this machine runs it: this Python, and ``port`` where the
    container's own port is (the commands name 127.0.0.1:<the service's port>)."""
    test = compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    own = {"router": 50051, "metrics": 50052, "gateway": 8080}[service]
    assert f"127.0.0.1:{own}" in test[-1]
    command = [sys.executable if part == "python" else part for part in test[1:]]
    return [part.replace(f"127.0.0.1:{own}", f"127.0.0.1:{port}") for part in command]


async def _exit_status(command: list[str]) -> int:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 30)


@pytest.mark.parametrize("service", ["router", "metrics"])
async def test_grpc_healthcheck_follows_the_health_service(service: str) -> None:
    """Against a real gRPC server with the services' health servicer: healthy while SERVING,
    unhealthy while draining (NOT_SERVING) and once it is gone."""
    server = await start_grpc_server("127.0.0.1:0", lambda s: None, [])
    command = _healthcheck(service, server.port)
    try:
        assert await _exit_status(command) == 0
        await server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert await _exit_status(command) == 1
    finally:
        await server.server.stop(None)
    assert await _exit_status(command) == 1


@pytest.fixture
def readiness_server() -> Iterator[tuple[int, list[int]]]:
    """An HTTP server answering GET /readyz with the status at the head of the list."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], status
    server.shutdown()
    server.server_close()


async def test_gateway_healthcheck_is_its_readiness(
    readiness_server: tuple[int, list[int]],
) -> None:
    """The command asks the gateway's /readyz (a real route, open without a key) and fails
    on its 503."""
    from gateway.routes import create_app

    port, status = readiness_server
    command = _healthcheck("gateway", port)
    assert "/readyz'" in command[-1]
    app = create_app(GatewayConfig(auth_enabled=False))
    assert "/readyz" in {getattr(route, "path", "") for route in app.routes}
    assert await _exit_status(command) == 0
    status[0] = 503
    assert await _exit_status(command) == 1


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_command_and_healthcheck_use_the_password(tmp_path: Path) -> None:
    """compose's Redis command run by this machine's redis-server (on a free port, in a temp
    directory): the healthcheck passes with the password and fails without it."""
    redis = compose()["services"]["redis"]
    shell, flag, script = redis["command"]
    port = _free_port()
    script = script.replace("$$", "$") + f" --port {port} --bind 127.0.0.1 --dir {tmp_path}"
    password = "compose-test-password-0123456789"
    server = subprocess.Popen(
        [shell, flag, script],
        env={**os.environ, "REDISCLI_AUTH": password},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    check = redis["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    probe = check[1].replace("redis-cli", f"redis-cli -p {port}")

    def healthy(auth: str | None) -> bool:
        env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        if auth is not None:
            env["REDISCLI_AUTH"] = auth
        return subprocess.run(["sh", "-c", probe], env=env, check=False).returncode == 0

    try:
        deadline = time.monotonic() + 10
        while not healthy(password):
            assert server.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis never became healthy"
            time.sleep(0.05)
        assert not healthy(None)
        assert not healthy("wrong-password")
    finally:
        server.terminate()
        server.wait(10)
