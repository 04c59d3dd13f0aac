"""Requests beyond a provider's ``max_connections`` wait for a connection, and the wait shows:
a Prometheus gauge of the requests waiting, a histogram of their waits, and an
``llmrouter.connection_wait`` event on each waiting attempt's span. They still complete."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.config import ConfigError
from llmrouter.v1 import router_service_pb2
from router_svc.config import ProviderConfig, load_config
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream

from .conftest import fake_providers, model
from .test_telemetry import chat

SLOW_S = 0.8


def sample(text: str, name: str, provider: str) -> float | None:
    """The value of ``name{provider="..."}`` in a Prometheus text exposition."""
    found = re.search(rf'^{name}{{provider="{provider}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


async def test_requests_beyond_the_limit_wait_visibly_and_complete(
    spans: InMemorySpanExporter, make_router: Any, upstream: FakeUpstream
) -> None:
    providers = tuple(
        replace(p, max_connections=2) if p.name == "oai" else p for p in fake_providers(upstream)
    )
    upstream.set("a", Behavior(delay_s=SLOW_S))
    running, stub = await make_router(
        (model("a"),), ("a",), providers=providers, prometheus_port=free_port()
    )
    port = running.prometheus_port
    before = await scrape(port)
    assert sample(before, "llmrouter_upstream_connections_max", "oai") == 2
    assert sample(before, "llmrouter_upstream_connections_waiting", "oai") == 0

    calls = [
        asyncio.ensure_future(stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hi"))))
        for _ in range(5)
    ]
    # Two requests hold both connections; three wait for them.
    waiting = 0.0
    async with asyncio.timeout(SLOW_S * 0.9):
        while waiting < 3:
            waiting = sample(await scrape(port), "llmrouter_upstream_connections_waiting", "oai")
            assert waiting is not None
    replies = await asyncio.gather(*calls)

    assert [r.message.content for r in replies] == ["Hello from a."] * 5
    assert upstream.connections <= 2  # the limit held: the waiters reused the two connections
    after = await scrape(port)
    assert sample(after, "llmrouter_upstream_connections_waiting", "oai") == 0
    assert sample(after, "llmrouter_upstream_connection_wait_seconds_count", "oai") == 3
    total = sample(after, "llmrouter_upstream_connection_wait_seconds_sum", "oai")
    # Two waited for the first pair to answer (one slow answer), one for the second pair too.
    assert total is not None
    assert total >= SLOW_S * 4 * 0.9
    # Each waiting attempt says so on its span; the others carry no such event.
    attempts = [s for s in spans.get_finished_spans() if s.name == "chat a"]
    assert len(attempts) == 5
    events = [e for s in attempts for e in s.events if e.name == "llmrouter.connection_wait"]
    assert len(events) == 3
    for event in events:
        attributes = dict(event.attributes or {})
        assert attributes["llmrouter.provider"] == "oai"
        assert attributes["llmrouter.max_connections"] == 2
        assert attributes["llmrouter.connection_acquired"] is True
    waits = sorted(float(dict(e.attributes or {})["llmrouter.wait_s"]) for e in events)  # type: ignore[arg-type]
    assert waits[0] >= SLOW_S * 0.9
    assert waits[2] >= SLOW_S * 2 * 0.9


async def test_by_default_concurrent_requests_do_not_queue(
    make_router: Any, upstream: FakeUpstream
) -> None:
    """The default pool is 1,000 connections: 50 concurrent slow requests never wait."""
    # Slow enough that all 50 are in flight together even on a loaded machine (at 0.2 s, a
    # busy CI saw the first answers back before the last requests left: 26 connections).
    upstream.set("a", Behavior(delay_s=1.0))
    running, stub = await make_router((model("a"),), ("a",), prometheus_port=free_port())
    assert fake_providers(upstream)[0].max_connections == 1000
    replies = await asyncio.gather(
        *(stub.Complete(router_service_pb2.CompleteRequest(chat=chat("hi"))) for _ in range(50))
    )
    assert len(replies) == 50
    text = await scrape(running.prometheus_port)
    assert sample(text, "llmrouter_upstream_connections_max", "oai") == 1000
    assert sample(text, "llmrouter_upstream_connection_wait_seconds_count", "oai") == 0
    assert upstream.connections == 50


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("5000", True), ("-1", False)])
def test_max_connections_is_a_per_provider_setting(value: str, ok: bool) -> None:
    document = {
        "router": {
            "providers": [
                {"name": "p", "kind": "openai", "base_url": "https://api.example.com/v1"},
                {
                    "name": "q",
                    "kind": "openai",
                    "base_url": "https://api.example.org/v1",
                    "max_connections": int(value),
                },
            ],
            "models": [{"name": "m", "provider": "p"}],
            "default_chain": ["m"],
        }
    }
    if not ok:
        with pytest.raises(ConfigError, match=r"router\.providers\[1\]\.max_connections"):
            load_config(document=document, environ={})
        return
    config = load_config(document=document, environ={})
    assert [p.max_connections for p in config.providers] == [1000, int(value)]
    assert ProviderConfig(name="x", kind="openai").max_connections == 1000
