"""Connect-time vetting: a name that resolved to a public address when its URL was checked and
to a private one when the connection opens (DNS rebinding) is never connected to.

The target is a real local server on 127.0.0.1 that counts what reaches it; DNS is the
``Resolve`` hook of :mod:`router_svc.urls`, scripted per test.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import pytest

from router_svc.chat import ChatRequest, Message
from router_svc.config import ProviderConfig
from router_svc.errors import ConnectionFailed
from router_svc.providers import ProviderCall, create_provider
from router_svc.providers.resolver import HookResolver, VettedResolver
from router_svc.urls import AddressPolicy, AddressRefused, check_url, parse_allow_list
from tests.fakes import FakeUpstream

PUBLIC = "93.184.216.34"
KEY_ENV = "LLMROUTER_TEST_REBIND_KEY"


class Dns:
    """Answers that a test changes between the check and the connection."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups = 0

    async def resolve(self, host: str) -> Sequence[str]:
        self.lookups += 1
        if host not in self.answers:
            raise OSError(f"{host}: no such host")
        return self.answers[host]


def hi() -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "hi"),))


async def test_a_name_that_rebinds_after_the_check_is_never_connected(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "rebind-test-key")
    dns = Dns()
    dns.answers["api.rebind.example.com"] = [PUBLIC]
    url = f"http://api.rebind.example.com:{upstream.base_url.rsplit(':', 1)[1]}/v1"
    await check_url(url, resolve=dns.resolve)  # what the admin API checks: public, accepted

    dns.answers["api.rebind.example.com"] = ["127.0.0.1"]  # the attacker's DNS changes its mind
    config = ProviderConfig(name="p", kind="openai", base_url=url, api_key_env=KEY_ENV)
    provider = create_provider(config, AddressPolicy(resolve=dns.resolve))
    try:
        with pytest.raises(ConnectionFailed) as failed:
            await provider.complete(ProviderCall("m", hi(), 2.0))
    finally:
        await provider.aclose()
    assert upstream.connections == 0  # not one byte, so not the key either
    assert upstream.requests == []
    assert dns.lookups == 2  # resolved again at connect time, and refused there
    message = failed.value.message
    assert message == (
        "p not connected: host 'api.rebind.example.com' resolved to loopback 127.0.0.1, which "
        "the router does not call unless allowed_private_hosts lists it"
    )


@pytest.mark.parametrize(("port_offset", "connected"), [(0, True), (1, False)])
async def test_an_allow_listed_address_with_a_port_admits_that_port_only(
    upstream: FakeUpstream, port_offset: int, connected: bool
) -> None:
    port = int(upstream.base_url.rsplit(":", 1)[1])
    dns = Dns()
    dns.answers["ollama.example.com"] = ["127.0.0.1"]
    policy = AddressPolicy(parse_allow_list([f"127.0.0.1:{port + port_offset}"]), dns.resolve)
    config = ProviderConfig(name="p", kind="ollama", base_url=f"http://ollama.example.com:{port}")
    provider = create_provider(config, policy)
    try:
        if connected:
            assert (
                await provider.complete(ProviderCall("m", hi(), 2.0))
            ).content == "Hello from m."
        else:
            with pytest.raises(ConnectionFailed, match=r"resolved to loopback 127\.0\.0\.1"):
                await provider.complete(ProviderCall("m", hi(), 2.0))
    finally:
        await provider.aclose()
    assert len(upstream.requests) == int(connected)


async def test_only_the_admitted_answers_are_returned() -> None:
    dns = Dns()
    dns.answers["mixed.example.com"] = ["169.254.169.254", PUBLIC, "10.0.0.7", "::1"]
    dns.answers["private.example.com"] = ["10.0.0.7", "fd00::1"]
    resolver = VettedResolver(AddressPolicy(), HookResolver(dns.resolve))
    answers = await resolver.resolve("mixed.example.com", 443, socket.AF_UNSPEC)
    assert [a["host"] for a in answers] == [PUBLIC]
    with pytest.raises(AddressRefused, match=r"private 10\.0\.0\.7, private fd00::1"):
        await resolver.resolve("private.example.com", 443, socket.AF_UNSPEC)
    with pytest.raises(OSError, match="no such host"):
        await resolver.resolve("nowhere.example.com", 443, socket.AF_UNSPEC)
