"""Start-up, configuration and graceful stop of the gateway process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import AppOptions, GatewayConfig, load_config, main, start
from llmrouter.config import ConfigError
from llmrouter.serving import StartupError

from .support import AUTH, FakeRouter, StartGateway

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port with a listener on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_busy_port_is_a_startup_error(busy_port: int) -> None:
    with pytest.raises(StartupError) as caught:
        await start(GatewayConfig(port=busy_port, auth_enabled=False))

    assert str(caught.value) == (
        f"cannot listen on 127.0.0.1:{busy_port}: address already in use"
        " (choose another port with gateway.port in the config file or LLMROUTER_GATEWAY_PORT)"
    )


async def test_failed_app_startup_is_a_startup_error() -> None:
    broken_channel: Any = object()  # the lifespan cannot build a stub on it

    with pytest.raises(StartupError, match="application startup failed"):
        await start(
            GatewayConfig(port=0, auth_enabled=False), AppOptions(router_channel=broken_channel)
        )


@pytest.mark.usefixtures("clean_env")
def test_main_prints_one_line_when_the_port_is_busy(
    busy_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMROUTER_GATEWAY_AUTH_ENABLED", "false")

    assert main(["--port", str(busy_port)]) == 2

    err = capsys.readouterr().err
    assert err == (
        f"gateway: cannot listen on 127.0.0.1:{busy_port}: address already in use"
        " (choose another port with gateway.port in the config file or LLMROUTER_GATEWAY_PORT)\n"
    )


@pytest.mark.usefixtures("clean_env")
def test_main_prints_one_line_for_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "llmrouter.toml"
    config.write_text('[gateway]\nport = "abc"\n')

    assert main(["--config", str(config)]) == 2

    assert capsys.readouterr().err == "gateway: gateway.port: expected an integer, got 'abc'\n"


@pytest.mark.usefixtures("clean_env")
def test_auth_on_without_keys_fails_at_start_naming_the_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--port", "0"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("gateway: gateway.api_keys: auth is enabled but no API key")
    assert err.count("\n") == 1


def test_load_config_reads_the_file_then_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text('[gateway]\nport = 9000\nrouter_addresses = ["router-a:50051"]\n')

    config = load_config(
        path,
        environ={
            "LLMROUTER_GATEWAY_PORT": "9100",
            "LLMROUTER_GATEWAY_ROUTER_ADDRESSES": "router-a:50051, router-b:50051",
        },
    )

    assert config == GatewayConfig(port=9100, router_addresses=("router-a:50051", "router-b:50051"))


def test_the_shared_state_section_is_read_with_the_gateway(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text('[gateway]\nport = 9000\n[state]\nbackend = "redis"\n')
    config = load_config(
        path, environ={"LLMROUTER_STATE_REDIS_URL": "rediss://cache.internal:6380/1"}
    )
    assert (config.state.backend, config.state.redis_url) == (
        "redis",
        "rediss://cache.internal:6380/1",
    )


def test_load_config_defaults_without_a_file() -> None:
    assert load_config(None, environ={}) == GatewayConfig()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_auth_off_is_accepted_on_loopback(host: str) -> None:
    # What `make run` does: auth off on 127.0.0.1.
    config = load_config(
        None, environ={"LLMROUTER_GATEWAY_HOST": host, "LLMROUTER_GATEWAY_AUTH_ENABLED": "false"}
    )
    assert (config.host, config.auth_enabled) == (host, False)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("port = 70000", "gateway.port"),
        ("request_timeout_s = 0", "gateway.request_timeout_s"),
        ("max_body_bytes = -1", "gateway.max_body_bytes"),
        ("max_header_bytes = 100", "gateway.max_header_bytes"),
        ("header_timeout_s = 0", "gateway.header_timeout_s"),
        ("body_timeout_s = -1.0", "gateway.body_timeout_s"),
        ("body_deadline_s = 0", "gateway.body_deadline_s"),
        ("keepalive_timeout_s = 0", "gateway.keepalive_timeout_s"),
        ("max_connections = 0", "gateway.max_connections"),
        ("shutdown_grace_s = -1.0", "gateway.shutdown_grace_s"),
        ("rate_limit_lease_percent = 11", "gateway.rate_limit_lease_percent"),
        ("rate_limit_lease_percent = -1", "gateway.rate_limit_lease_percent"),
        ("router_addresses = []", "gateway.router_addresses"),
        ('router_addresses = ["router"]', "gateway.router_addresses[0]"),
        ('router_addresses = ["a:1", "a:1"]', "gateway.router_addresses"),
        ('metrics_address = "metrics:99999"', "gateway.metrics_address"),
        ("readiness_timeout_s = 0", "gateway.readiness_timeout_s"),
        ('auth_enabled = "yes"', "gateway.auth_enabled"),
        ('host = "0.0.0.0"\nauth_enabled = false', "gateway.auth_enabled"),
        ('host = ""\nauth_enabled = false', "gateway.auth_enabled"),
        ('api_keys = [{ id = "ci" }]', "gateway.api_keys[0].sha256"),
        ('api_keys = [{ id = "ci", sha256 = "abc" }]', "gateway.api_keys[0].sha256"),
        ('api_keys = [{ id = "c i", env = "K" }]', "gateway.api_keys[0].id"),
        (
            'api_keys = [{ id = "ci", env = "K", sha256 = "' + "0" * 64 + '" }]',
            "gateway.api_keys[0].sha256",
        ),
        ('api_keys = [{ id = "a", env = "K" }, { id = "a", env = "L" }]', "gateway.api_keys[1].id"),
        ("colour = 1", "gateway.colour"),
        ('[gateway.state]\nbackend = "redis"', "gateway.state"),
        ('[state]\nbackend = "memcached"', "state.backend"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, section: str, key: str) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(f"[gateway]\n{section}\n")

    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}:"):
        load_config(path, environ={})


async def test_stop_lets_in_flight_requests_finish(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    router.hold = True
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        in_flight = asyncio.create_task(http.post("/v1/chat/completions", json=BODY))
        await asyncio.wait_for(router.called.wait(), timeout=5)
        stopping = asyncio.create_task(gateway.stop())
        await asyncio.sleep(0.3)
        assert not stopping.done()  # waiting for the request

        async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as newcomer:
            with pytest.raises(httpx.ConnectError):  # no new connections meanwhile
                await newcomer.get("/healthz")
        router.release.set()
        response = await in_flight
        await asyncio.wait_for(stopping, timeout=5)

    assert response.status_code == 200


async def test_stop_cancels_what_outlives_the_grace_period(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    router.hold_after = 2
    gateway = await start_gateway(shutdown_grace_s=1.0)
    stream = {**BODY, "stream": True}
    async with (
        httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http,
        http.stream("POST", "/v1/chat/completions", json=stream),
    ):
        await asyncio.wait_for(router.called.wait(), timeout=5)
        began = time.monotonic()
        await asyncio.wait_for(gateway.stop(), timeout=5)

    assert time.monotonic() - began < 3
    await asyncio.wait_for(router.cancelled.wait(), timeout=5)


def test_process_serves_until_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env["LLMROUTER_GATEWAY_API_KEYS"] = "ci:sk-process-key"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--port", "0"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.fullmatch(
            r"gateway: listening on http://127\.0\.0\.1:(\d+) \(router at 127\.0\.0\.1:50051\)\n",
            line,
        )
        assert match, line
        url = f"http://127.0.0.1:{match[1]}"
        health = httpx.get(f"{url}/healthz", timeout=5)
        assert health.json() == {"status": "ok", "auth": "enabled"}
        assert httpx.get(f"{url}/v1/models", timeout=5).status_code == 401
        keyed = httpx.get(f"{url}/v1/models", headers={"x-api-key": "sk-process-key"}, timeout=5)
        assert keyed.status_code != 401  # past auth (then 503: probably no router there)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
