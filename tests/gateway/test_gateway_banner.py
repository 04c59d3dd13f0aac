"""``llmrouter serve all`` says in its banner when the gateway it started takes no API key."""

from __future__ import annotations

import asyncio

import pytest

from gateway.app import AUTH_OFF
from llmrouter.cli import _print_banner

from .support import StartGateway


def endpoints(gateway_port: int) -> dict[str, tuple[str, int]]:
    return {
        "gateway": ("127.0.0.1", gateway_port),
        "router": ("127.0.0.1", 50051),
        "metrics": ("127.0.0.1", 50052),
    }


async def test_banner_says_auth_is_off(
    start_gateway: StartGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = await start_gateway(auth_enabled=False, api_keys=())

    # The banner asks the gateway over HTTP with a blocking client: run it off the loop.
    await asyncio.to_thread(_print_banner, endpoints(gateway.port))

    out = capsys.readouterr().out
    assert f"  {AUTH_OFF}\n" in out
    assert AUTH_OFF == (
        "auth: OFF (local run; set gateway.auth_enabled=true and keys for shared use)"
    )
    assert "authorization: Bearer" not in out


async def test_banner_shows_the_key_header_when_auth_is_on(
    start_gateway: StartGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = await start_gateway()

    await asyncio.to_thread(_print_banner, endpoints(gateway.port))

    out = capsys.readouterr().out
    assert "auth: OFF" not in out
    assert '-H "authorization: Bearer $LLMROUTER_KEY"' in out


async def test_costs_hint_names_the_config_the_stack_read(
    start_gateway: StartGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another stack on the machine has another ledger: the hint reads this one's."""
    gateway = await start_gateway()

    await asyncio.to_thread(_print_banner, endpoints(gateway.port), "", "/srv/my stack.toml")
    out = capsys.readouterr().out
    metrics = "{}:{}".format(*endpoints(gateway.port)["metrics"])
    assert (
        f"  .venv/bin/llmrouter costs --config '/srv/my stack.toml' --metrics {metrics} "
        "--group-by model\n"
    ) in out
    assert "  config   /srv/my stack.toml\n" in out

    await asyncio.to_thread(_print_banner, endpoints(gateway.port))
    out = capsys.readouterr().out
    assert f"  .venv/bin/llmrouter costs --metrics {metrics} --group-by model\n" in out
    assert "  config   built-in defaults\n" in out
