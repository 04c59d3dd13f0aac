"""The request size limits of every hop agree: the gateway sends each body as a gRPC message of
at most ``gateway.max_body_bytes`` + 64 KiB, and the router receives at least that, by default,
by following the gateway's key in the same file or environment, or else it refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.channels import retry_options, size_options
from gateway.config import GatewayConfig
from gateway.config import load_config as load_gateway
from llmrouter.config import ConfigError
from llmrouter.sizes import FRAMING_MARGIN_BYTES, describe_bytes
from router_svc.config import RouterConfig
from router_svc.config import load_config as load_router

MiB = 1024 * 1024


def test_the_defaults_carry_a_32_mib_body_through_every_hop() -> None:
    gateway, router = GatewayConfig(), RouterConfig()
    assert gateway.max_body_bytes == 32 * MiB
    sent = dict(size_options(gateway))["grpc.max_send_message_length"]
    assert sent == 32 * MiB + FRAMING_MARGIN_BYTES
    assert router.max_receive_message_bytes == sent
    # A request up to the limit is kept for a retry on another replica.
    assert dict(retry_options(gateway))["grpc.per_rpc_retry_buffer_size"] == sent


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "llmrouter.toml"
    path.write_text(text)
    return str(path)


def test_the_router_follows_the_gateways_body_limit_in_the_same_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"[gateway]\nmax_body_bytes = {64 * MiB}\n")
    assert load_router(path, environ={}).max_receive_message_bytes == 64 * MiB + 64 * 1024
    # A lower gateway limit does not shrink the router's below its default.
    path = write(tmp_path, f"[gateway]\nmax_body_bytes = {MiB}\n")
    assert load_router(path, environ={}).max_receive_message_bytes == 32 * MiB + 64 * 1024


def test_the_router_follows_the_gateways_body_limit_in_the_environment() -> None:
    env = {"LLMROUTER_GATEWAY_MAX_BODY_BYTES": str(100 * MiB)}
    assert load_router(document={}, environ=env).max_receive_message_bytes == 100 * MiB + 65536


def test_a_router_limit_below_the_gateways_body_limit_fails_at_start(tmp_path: Path) -> None:
    gateway = f"[gateway]\nmax_body_bytes = {32 * MiB}\n"
    path = write(tmp_path, gateway + f"[router]\nmax_receive_message_bytes = {4 * MiB}\n")
    for load, key in ((load_router, "router"), (load_gateway, "gateway")):
        with pytest.raises(ConfigError) as caught:
            load(path, environ={})  # type: ignore[operator]
        message = str(caught.value)
        assert message.startswith(f"{key}.max_")
        assert "router.max_receive_message_bytes (4194304 bytes (4 MiB))" in message
        assert "gateway.max_body_bytes (33554432 bytes (32 MiB))" in message
        assert str(32 * MiB + 64 * 1024) in message


def test_a_router_limit_set_high_enough_is_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"[gateway]\nmax_body_bytes = {MiB}\n[router]\nmax_receive_message_bytes = {2 * MiB}\n",
    )
    assert load_router(path, environ={}).max_receive_message_bytes == 2 * MiB
    assert load_gateway(path, environ={}).max_body_bytes == MiB


def test_sizes_are_described_in_their_unit() -> None:
    assert describe_bytes(32 * MiB) == "33554432 bytes (32 MiB)"
    assert describe_bytes(64 * 1024) == "65536 bytes (64 KiB)"
    assert describe_bytes(1000) == "1000 bytes"
