"""Provider URLs: the admin RPC accepts only http(s) to public or allow-listed hosts and persists
what it accepts; config files and the state file are held to the same rule at start; a name is
vetted again when a connection opens (DNS rebinding); and a provider's redirect is never
followed, so its API key never reaches another host."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import (
    chat_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)
from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from router_svc.config import ModelConfig, ProviderConfig, RetryConfig, RouterConfig
from router_svc.server import RunningRouter, start
from tests.fakes import FakeUpstream, running_upstream

KEY_ENV = "LLMROUTER_TEST_PROVIDER_KEY"
KEY = "sk-provider-key-never-redirected-0123"


def config(tmp_path: Path, base_url: str) -> RouterConfig:
    return replace(
        RouterConfig(),
        port=0,
        prometheus_port=0,
        metrics_address="127.0.0.1:1",  # usage is not under test here
        outbox_path=str(tmp_path / "outbox.sqlite3"),
        state_path=str(tmp_path / "state.json"),
        allowed_private_hosts=("127.0.0.1",),
        providers=(
            ProviderConfig(name="remote", kind="openai", base_url=base_url, api_key_env=KEY_ENV),
            ProviderConfig(name="sim", kind="simulated", local=True),
        ),
        models=(
            ModelConfig(name="m", provider="remote"),
            ModelConfig(name="backup", provider="sim"),
        ),
        default_chain=("m", "backup"),
        retry=RetryConfig(attempts_per_model=1),
    )


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    async with running_upstream() as first, running_upstream() as second:
        yield first, second


async def serve(cfg: RouterConfig) -> RunningRouter:
    return await start(cfg)


async def complete(port: int) -> router_service_pb2.CompleteResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        chat = chat_pb2.ChatRequest(
            model="auto", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")]
        )
        return await stub.Complete(router_service_pb2.CompleteRequest(chat=chat), timeout=10)


async def set_url(port: int, provider: str, url: str) -> admin_pb.SetProviderBaseUrlResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        request = admin_pb.SetProviderBaseUrlRequest(provider=provider, base_url=url)
        return await stub.SetProviderBaseUrl(request, timeout=10)


REFUSED = [
    "ftp://api.example.com/v1",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/",
    "http://localhost:11434/v1",
    "http://[::1]:8080/v1",
    "http://127.0.0.2:8080/v1",  # the allow list names 127.0.0.1 only
    "http://10.0.0.5/v1",
    "http://192.168.0.10/v1",
    "http://user:pw@api.example.com/v1",
    "not a url",
]


async def test_admin_base_urls_are_validated_and_persisted(
    tmp_path: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    first, second = upstreams
    router = await serve(config(tmp_path, f"{first.base_url}/v1"))
    try:
        for url in REFUSED:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await set_url(router.port, "remote", url)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url
            status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
            assert status is not None
            bad = error_details_pb2.BadRequest()
            assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
            assert bad.field_violations[0].field == "base_url"
        for provider, code in (("nope", "NOT_FOUND"), ("sim", "INVALID_ARGUMENT")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await set_url(router.port, provider, f"{second.base_url}/v1")
            assert refused.value.code().name == code
        # Nothing refused took effect: calls still go to the first upstream.
        assert (await complete(router.port)).model == "m"
        assert first.calls("m") == 1

        # An allow-listed host is accepted; traffic moves at once.
        moved = await set_url(router.port, "remote", f"{second.base_url}/v1")
        assert moved.base_url == f"{second.base_url}/v1"
        assert [m.model for m in moved.models] == ["m"]
        assert (await complete(router.port)).model == "m"
        assert (first.calls("m"), second.calls("m")) == (1, 1)
        assert second.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    finally:
        await router.stop(grace=0)

    # The change survives a restart (state file), and is still held to the rules there.
    again = await serve(config(tmp_path, f"{first.base_url}/v1"))
    try:
        assert (await complete(again.port)).model == "m"
        assert second.calls("m") == 2
    finally:
        await again.stop(grace=0)


async def test_a_redirect_is_never_followed(
    tmp_path: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider answers 307 to another host: the router does not go there (with the key or
    without), and fails over instead of failing the request."""
    monkeypatch.setenv(KEY_ENV, KEY)
    _, target = upstreams
    location = f"{target.base_url}/v1/chat/completions"

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    router = await serve(config(tmp_path, f"http://127.0.0.1:{port}/v1"))
    try:
        reply = await complete(router.port)
    finally:
        await router.stop(grace=0)
        server.close()
        await server.wait_closed()
    assert target.requests == []  # nothing, and so no key, went to the redirect's target
    assert reply.model == "backup"
    assert reply.attempts[0].error_type == "UPSTREAM_UNAVAILABLE"
    assert reply.attempts[0].http_status == 307


@pytest.mark.parametrize(
    ("url", "allowed", "message"),
    [
        (
            "http://169.254.169.254/v1",
            "",
            "router: router.providers[0].base_url: host '169.254.169.254' is link-local "
            "(cloud metadata); the router only calls public hosts unless "
            "allowed_private_hosts lists it",
        ),
        ("http://localhost:11434", '"localhost"', None),
    ],
)
def test_config_file_urls_are_checked_at_start(
    tmp_path: Path, url: str, allowed: str, message: str | None
) -> None:
    cfg = tmp_path / "router.toml"
    cfg.write_text(
        f"""[router]
port = 0
prometheus_port = 0
outbox_path = "{tmp_path / "outbox.sqlite3"}"
state_path = "{tmp_path / "state.json"}"
allowed_private_hosts = [{allowed}]
default_chain = ["llama"]
[[router.providers]]
name = "local"
kind = "ollama"
base_url = "{url}"
local = true
[[router.models]]
name = "llama"
provider = "local"
"""
    )
    cmd = [sys.executable, "-m", "router_svc", "--config", str(cfg)]
    if message is not None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert done.stderr.strip() == message
        return
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        try:
            line = proc.stderr.readline()
            assert "router: listening on" in line, line
        finally:
            proc.terminate()


PUBLIC = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """This machine's DNS answers for the names a test scripts (others resolve as usual).

    Patched at ``socket.getaddrinfo``, the system resolver under both the admin check and
    aiohttp's default resolver: our own code runs unchanged.
    """
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kwargs)
        number = int(port or 0)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, number))
            for address in answers[name]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
async def trap() -> AsyncIterator[list[int]]:
    """A server on 127.0.0.2 (loopback, not allow-listed) that counts the connections it gets
    and drops them; yields [port, hits]."""
    counts = [0, 0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts[1] += 1
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.2", 0)
    counts[0] = server.sockets[0].getsockname()[1]
    yield counts
    server.close()
    await server.wait_closed()


async def test_a_name_that_rebinds_after_the_admin_check_is_never_connected(
    tmp_path: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    dns: dict[str, list[str]],
    trap: list[int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    first, _ = upstreams
    router = await serve(config(tmp_path, f"{first.base_url}/v1"))
    try:
        dns["api.rebind.example.com"] = [PUBLIC]
        url = f"http://api.rebind.example.com:{trap[0]}/v1"
        assert (await set_url(router.port, "remote", url)).base_url == url
        dns["api.rebind.example.com"] = ["127.0.0.2"]  # the name's owner changes its answer
        reply = await complete(router.port)
    finally:
        await router.stop(grace=0)
    assert trap[1] == 0  # no connection, so no request and no key
    assert reply.model == "backup"
    assert reply.attempts[0].error_type == "CONNECTION_FAILED"
    # The caller is told why without the upstream's host and address (router.
    # expose_provider_in_errors is off); the router's log has them.
    assert "host '[upstream host]' resolved to loopback [address]" in (
        reply.attempts[0].error_message
    )
    assert "'api.rebind.example.com' resolved to loopback 127.0.0.2" in caplog.text


async def test_a_state_file_url_resolving_to_a_private_address_is_refused_at_start(
    tmp_path: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    dns: dict[str, list[str]],
    trap: list[int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    first, _ = upstreams
    dns["internal.example.com"] = ["127.0.0.2"]
    state = {"version": 1, "base_urls": {"remote": f"http://internal.example.com:{trap[0]}/v1"}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    with caplog.at_level(logging.WARNING, logger="router_svc.admin"):
        router = await serve(config(tmp_path, f"{first.base_url}/v1"))
    try:
        reply = await complete(router.port)
    finally:
        await router.stop(grace=0)
    assert trap[1] == 0
    assert reply.model == "m"  # the configured URL is kept
    assert first.calls("m") == 1
    assert [r.getMessage() for r in caplog.records if r.name == "router_svc.admin"] == [
        "admin store: refused base URL of 'remote' (host 'internal.example.com' is resolving "
        "to loopback 127.0.0.2; the router only calls public hosts unless "
        "allowed_private_hosts lists it); using the configured one"
    ]


async def test_an_allow_list_entry_with_a_port_admits_that_port_only(
    tmp_path: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    first, second = upstreams
    cfg = config(tmp_path, f"{first.base_url}/v1")
    only_first = f"127.0.0.1:{first.base_url.rsplit(':', 1)[1]}"
    router = await serve(replace(cfg, allowed_private_hosts=(only_first,)))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await set_url(router.port, "remote", f"{second.base_url}/v1")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "is loopback" in (refused.value.details() or "")
        assert (await complete(router.port)).model == "m"
    finally:
        await router.stop(grace=0)
    assert (first.calls("m"), second.calls("m")) == (1, 0)
