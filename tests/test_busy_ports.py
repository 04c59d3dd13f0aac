"""A port that another process holds: every way of starting llmrouter says, in one line, which
port, which config key and which environment variable choose another, and exits 2.

Real processes (``python -m llmrouter serve ...``) against a real listener on the port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

# The five listening ports of a stack: config key -> (service, environment variable).
PORTS = {
    "gateway.port": ("gateway", "LLMROUTER_GATEWAY_PORT"),
    "router.port": ("router", "LLMROUTER_ROUTER_PORT"),
    "router.prometheus_port": ("router", "LLMROUTER_ROUTER_PROMETHEUS_PORT"),
    "metrics.port": ("metrics", "LLMROUTER_METRICS_PORT"),
    "metrics.prometheus_port": ("metrics", "LLMROUTER_METRICS_PROMETHEUS_PORT"),
}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process listens on (here: this one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()
        yield int(sock.getsockname()[1])


def _stack_env(tmp_path: Path) -> dict[str, str]:
    """Our environment without LLMROUTER_*, every port of the stack free, state in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env |= {variable: str(free_port()) for _, variable in PORTS.values()}
    return env | {
        "LLMROUTER_GATEWAY_AUTH_ENABLED": "false",
        "LLMROUTER_ROUTER_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
        "LLMROUTER_ROUTER_STATE_PATH": str(tmp_path / "state.json"),
        "LLMROUTER_METRICS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'metrics.sqlite3'}",
    }


def _serve(service: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", "serve", service],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def _hint(setting: str) -> str:
    off = ", or 0 to turn it off" if "prometheus" in setting else ""
    return f"choose another port with {setting} in the config file or {PORTS[setting][1]}{off}"


@pytest.mark.parametrize("setting", sorted(PORTS))
def test_serve_all_names_the_busy_port_and_how_to_move_it(
    tmp_path: Path, busy_port: int, setting: str
) -> None:
    env = _stack_env(tmp_path) | {PORTS[setting][1]: str(busy_port)}

    done = _serve("all", env, tmp_path)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"llmrouter: cannot listen on 127.0.0.1:{busy_port}: address already in use "
        f"({_hint(setting)})"
    ]
    assert done.stdout == ""  # no banner: nothing was started
    assert not (tmp_path / "metrics.sqlite3").exists()


@pytest.mark.parametrize("setting", ["gateway.port", "router.port", "metrics.port"])
def test_each_service_names_its_busy_port(tmp_path: Path, busy_port: int, setting: str) -> None:
    service, variable = PORTS[setting]

    done = _serve(service, _stack_env(tmp_path) | {variable: str(busy_port)}, tmp_path)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"{service}: cannot listen on 127.0.0.1:{busy_port}: address already in use "
        f"({_hint(setting)})"
    )
    assert not any("listening on" in line for line in done.stderr.splitlines())


def test_the_router_names_its_busy_prometheus_port(tmp_path: Path, busy_port: int) -> None:
    env = _stack_env(tmp_path) | {"LLMROUTER_ROUTER_PROMETHEUS_PORT": str(busy_port)}

    done = _serve("router", env, tmp_path)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"router: cannot listen on 127.0.0.1:{busy_port}: address already in use "
        f"({_hint('router.prometheus_port')})"
    )


def test_serve_all_refuses_one_port_named_twice(tmp_path: Path) -> None:
    env = _stack_env(tmp_path)
    env["LLMROUTER_ROUTER_PORT"] = env["LLMROUTER_METRICS_PORT"]

    done = _serve("all", env, tmp_path)

    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"llmrouter: metrics.port and router.port both name port {env['LLMROUTER_ROUTER_PORT']} "
        f"({_hint('router.port')})"
    ]
