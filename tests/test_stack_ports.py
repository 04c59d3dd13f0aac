"""`llmrouter serve all` with every port moved, as a user moves them (environment variables or
the config file) without touching the address keys: the gateway must reach the router and
the metrics service where they now listen, and the router must ship usage there too.

Real processes; the proof is a chat completion through the gateway whose usage shows up in
the gateway's /v1/costs (router -> metrics -> gateway on the moved ports).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.serve_all import serve_all

SETTINGS = {
    "gateway.port": "LLMROUTER_GATEWAY_PORT",
    "router.port": "LLMROUTER_ROUTER_PORT",
    "router.prometheus_port": "LLMROUTER_ROUTER_PROMETHEUS_PORT",
    "metrics.port": "LLMROUTER_METRICS_PORT",
    "metrics.prometheus_port": "LLMROUTER_METRICS_PROMETHEUS_PORT",
}


@pytest.fixture(params=["env", "file"])
def moved_stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, int], str]]:
    """`serve all` with every port on a free one, set through the environment (``env``) or a
    config file (``file``); yields the ports by config key and the banner."""
    ports = {setting: free_port() for setting in SETTINGS}
    env = {"LLMROUTER_GATEWAY_AUTH_ENABLED": "false"}
    args: list[str] = []
    if request.param == "env":
        env |= {SETTINGS[setting]: str(port) for setting, port in ports.items()}
    else:
        sections: dict[str, list[str]] = {}
        for setting, port in ports.items():
            section, _, key = setting.partition(".")
            sections.setdefault(section, []).append(f"{key} = {port}")
        config = tmp_path / "llmrouter.toml"
        config.write_text("".join(f"[{s}]\n" + "\n".join(k) + "\n\n" for s, k in sections.items()))
        args = ["--config", str(config)]
    with serve_all(tmp_path, env, *args) as stack:
        yield ports, stack.banner
    err = stack.stderr
    assert "warning" not in err, err
    # Each child said where it found the others.
    router, metrics = ports["router.port"], ports["metrics.port"]
    assert f"gateway: listening on http://127.0.0.1:{ports['gateway.port']} " in err
    assert f"(router at 127.0.0.1:{router})" in err
    assert f"usage to 127.0.0.1:{metrics};" in err


def test_serve_all_follows_moved_router_and_metrics_ports(
    moved_stack: tuple[dict[str, int], str],
) -> None:
    ports, banner = moved_stack
    gateway = f"http://127.0.0.1:{ports['gateway.port']}"
    assert f"router   127.0.0.1:{ports['router.port']}" in banner
    assert f"metrics  127.0.0.1:{ports['metrics.port']}" in banner

    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(f"{gateway}/v1/chat/completions", json=body, timeout=30)

    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].startswith("[simulated ")
    # The router shipped the usage to the moved metrics service; the gateway reads it there.
    deadline = time.monotonic() + 20
    costs: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{gateway}/v1/costs", params={"since": "1h"}, timeout=10)
        assert answer.status_code == 200, answer.text  # the gateway reaches metrics
        costs = answer.json()
        if costs["totals"]["requests"]:
            break
        time.sleep(0.3)
    assert costs["totals"]["requests"] == 1, costs
    # The Prometheus endpoints moved too.
    for setting in ("router.prometheus_port", "metrics.prometheus_port"):
        scrape = httpx.get(f"http://127.0.0.1:{ports[setting]}/metrics", timeout=10)
        assert scrape.status_code == 200


EXAMPLE = Path(__file__).resolve().parents[1] / "llmrouter.example.toml"


def _moved_env(**extra: str) -> dict[str, str]:
    env = {variable: str(free_port()) for variable in SETTINGS.values()}
    return env | {"LLMROUTER_GATEWAY_AUTH_ENABLED": "false"} | extra


def test_a_copy_of_the_example_config_follows_moved_ports() -> None:
    """The example spells every address at its default: those still follow the moved ports."""
    from llmrouter.cli import _plan

    env = _moved_env()
    _, children = _plan(str(EXAMPLE), env)

    router = f"127.0.0.1:{env['LLMROUTER_ROUTER_PORT']}"
    metrics = f"127.0.0.1:{env['LLMROUTER_METRICS_PORT']}"
    assert children["gateway"]["LLMROUTER_GATEWAY_ROUTER_ADDRESSES"] == router
    assert children["gateway"]["LLMROUTER_GATEWAY_METRICS_ADDRESS"] == metrics
    assert children["router"]["LLMROUTER_ROUTER_METRICS_ADDRESS"] == metrics


def test_addresses_the_config_chose_are_kept_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from llmrouter.cli import _plan

    env = _moved_env(LLMROUTER_GATEWAY_ROUTER_ADDRESSES="127.0.0.1:1234,127.0.0.1:1235")
    _, children = _plan(None, env)

    assert "LLMROUTER_GATEWAY_ROUTER_ADDRESSES" not in children["gateway"]
    assert children["gateway"]["LLMROUTER_GATEWAY_METRICS_ADDRESS"].endswith(
        f":{env['LLMROUTER_METRICS_PORT']}"
    )
    assert capsys.readouterr().err == (
        "llmrouter: warning: gateway.router_addresses (127.0.0.1:1234, 127.0.0.1:1235) does not "
        f"name the port of the service started here (127.0.0.1:{env['LLMROUTER_ROUTER_PORT']}); "
        "remove it from the config to follow it\n"
    )


def test_default_ports_add_nothing() -> None:
    """Ports left alone: the children's addresses are already right, nothing is passed."""
    from llmrouter.cli import _follow

    assert _follow("x", ("127.0.0.1:50051",), ("127.0.0.1:50051",), "127.0.0.1:50051") == ""
    assert _follow("x", ("127.0.0.1:50051",), ("127.0.0.1:50051",), "[::1]:50051") == "[::1]:50051"
