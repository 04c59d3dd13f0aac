"""The fault proxy: each request through it gets its scripted fault, on a keep-alive link too."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes import running_upstream
from tests.fakes.fault_proxy import Fault, FaultProxy, running_proxy

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    async with running_upstream() as upstream, running_proxy(upstream.base_url) as started:
        yield started


async def test_each_request_on_one_connection_gets_its_own_fault(proxy: FaultProxy) -> None:
    proxy.script(Fault("pass"), Fault("reset", after_bytes=0), Fault("pass"))
    async with httpx.AsyncClient(base_url=proxy.base_url) as http:
        first = await http.post("/v1/chat/completions", json=BODY)
        with pytest.raises(httpx.TransportError):
            await http.post("/v1/chat/completions", json=BODY)
        third = await http.post("/v1/chat/completions", json=BODY)

    assert first.status_code == third.status_code == 200
    assert first.json()["choices"][0]["message"]["content"]
    assert proxy.applied == {"pass": 2, "reset": 1}


async def test_truncate_cuts_the_body_short(proxy: FaultProxy) -> None:
    proxy.script(Fault("truncate", after_bytes=120))
    async with httpx.AsyncClient(base_url=proxy.base_url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/v1/chat/completions", json=BODY)


async def test_latency_delays_the_response(proxy: FaultProxy) -> None:
    proxy.script(Fault("latency", delay_s=0.3))
    async with httpx.AsyncClient(base_url=proxy.base_url) as http:
        began = time.monotonic()
        reply = await http.post("/v1/chat/completions", json=BODY)
    assert reply.status_code == 200
    assert time.monotonic() - began >= 0.3


async def test_stall_never_answers(proxy: FaultProxy) -> None:
    proxy.script(Fault("stall"))
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=0.5) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/chat/completions", json=BODY)


async def test_a_weighted_mix_applies_every_fault(proxy: FaultProxy) -> None:
    proxy.mix({Fault("pass"): 1, Fault("reset", after_bytes=10): 1})
    outcomes = []
    for _ in range(40):
        async with httpx.AsyncClient(base_url=proxy.base_url) as http:
            try:
                outcomes.append((await http.post("/v1/chat/completions", json=BODY)).status_code)
            except httpx.TransportError:
                outcomes.append(0)
    assert 5 < outcomes.count(0) < 35
    assert outcomes.count(0) == proxy.applied["reset"]
