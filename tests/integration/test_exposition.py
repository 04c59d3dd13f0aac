"""Every ``/metrics`` of the three services, as real processes after some traffic, is valid
Prometheus text as ``prometheus_client``'s own parser reads it: each sample belongs to the
family its ``# TYPE`` line names (before: ``# TYPE llmrouter_outbox_dropped_total_total
counter`` over samples named ``llmrouter_outbox_dropped_total``), and the gateway labels a
parameterised admin route by its template, not ``route="other"`` (issue 18)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

from .conftest import Stack, started, write_config

KEY = "sk-exposition-user-0123456789"
ADMIN_KEY = "sk-exposition-ops-0123456789"
HELLO = [{"role": "user", "content": "hi"}]

# The samples a family of each type may hold (text format 0.0.4, as prometheus_client writes
# it and Prometheus reads it).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def problems(text: str) -> list[str]:
    """What is wrong with the exposition ``text``: samples outside the family their TYPE line
    named (the parser puts those in families of type ``unknown``), families of an unexpected
    type, names declared twice, counters whose name still ends in ``_total``."""
    found: list[str] = []
    seen: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.name in seen:
            found.append(f"{family.name}: declared twice")
        seen.add(family.name)
        allowed = _SUFFIXES.get(family.type)
        if allowed is None:
            names = sorted({s.name for s in family.samples})
            found.append(f"{family.name}: type {family.type} (samples {names})")
            continue
        if family.type == "counter" and family.name.endswith("_total"):
            found.append(f"{family.name}: counter named with its _total")
        for sample in family.samples:
            if sample.name not in {family.name + suffix for suffix in allowed}:
                found.append(f"{sample.name}: not a sample of {family.type} {family.name}")
    return found


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples called ``name`` in ``text``: (labels, value)."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_the_check_catches_the_reported_exposition() -> None:
    # What the router served before: a gauge retyped as a counter, named with its _total, so
    # prometheus_client added another to the HELP and TYPE lines but not to the sample.
    bad = (
        "# HELP llmrouter_outbox_dropped_total_total Usage records dropped at the bound\n"
        "# TYPE llmrouter_outbox_dropped_total_total counter\n"
        "llmrouter_outbox_dropped_total 0.0\n"
    )
    assert problems(bad) == [
        "llmrouter_outbox_dropped_total: counter named with its _total",
        "llmrouter_outbox_dropped_total: declared twice",
        "llmrouter_outbox_dropped_total: type unknown (samples ['llmrouter_outbox_dropped_total'])",
    ]
    # What a CounterMetricFamily named llmrouter_outbox_dropped writes (text format 0.0.4).
    good = (
        "# HELP llmrouter_outbox_dropped_total Usage records dropped at the bound\n"
        "# TYPE llmrouter_outbox_dropped_total counter\n"
        "llmrouter_outbox_dropped_total 0.0\n"
    )
    assert problems(good) == []


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Stack, int]]:
    config = write_config(tmp_path, gateway_extra="auth_enabled = true")
    metrics_prometheus = free_port()
    text = config.config.read_text()
    # write_config turns the metrics service's endpoint off (the only "= 0" port).
    assert text.count("prometheus_port = 0\n") == 1
    config.config.write_text(
        text.replace("prometheus_port = 0\n", f"prometheus_port = {metrics_prometheus}\n")
    )
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"user:{KEY}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{ADMIN_KEY}",
    }
    async with started(config, env) as running:
        yield running, metrics_prometheus


async def test_every_exposition_parses_and_admin_routes_carry_their_template(
    stack: tuple[Stack, int],
) -> None:
    running, metrics_prometheus = stack
    user = {"authorization": f"Bearer {KEY}"}
    ops = {"authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        for stream in (False, True):
            reply = await http.post(
                "/v1/chat/completions",
                headers=user,
                json={"model": "auto", "messages": HELLO, "stream": stream},
            )
            assert reply.status_code == 200, reply.text
        # Admin routes with a path parameter: a category by name, a model by name.
        put = await http.put(
            "/v1/admin/categories/code", headers=ops, json={"chain": ["sim-large"]}
        )
        assert put.status_code == 200, put.text
        reset = await http.post("/v1/admin/models/sim-small/reset-breaker", headers=ops)
        assert reset.status_code == 200, reset.text
        refused = await http.delete("/v1/admin/categories/code", headers=user)
        assert refused.status_code == 403
        assert (await http.get("/no-such-path")).status_code == 404

        # Usage reaches the ledger off the request path: wait for both records to be shipped.
        router_url = f"http://127.0.0.1:{running.router_prometheus}/metrics"
        deadline = time.monotonic() + 20
        while True:
            router_text = (await http.get(router_url)).text
            shipped = samples(router_text, "llmrouter_outbox_shipped_total")
            if shipped and shipped[0][1] >= 2:
                break
            assert time.monotonic() < deadline, f"records not shipped: {shipped}"
            await asyncio.sleep(0.1)
        metrics_text = (await http.get(f"http://127.0.0.1:{metrics_prometheus}/metrics")).text
        gateway_text = (await http.get("/metrics")).text

    for name, text in (
        ("router", router_text),
        ("metrics", metrics_text),
        ("gateway", gateway_text),
    ):
        assert problems(text) == [], f"{name}:\n{text}"
        assert "_total_total" not in text, name

    # Counters read at scrape time are typed counters, with their samples.
    families = {f.name: f for f in text_string_to_metric_families(router_text)}
    for counter in (
        "llmrouter_outbox_dropped",
        "llmrouter_outbox_rejected",
        "llmrouter_outbox_shipped",
        "llmrouter_stream_chunks_skipped",
        "llmrouter_attempts",
    ):
        assert families[counter].type == "counter", counter
    assert samples(router_text, "llmrouter_outbox_dropped_total") == [({}, 0.0)]
    attempts = samples(router_text, "llmrouter_attempts_total")
    assert sum(value for labels, value in attempts if labels["status"] == "succeeded") == 2
    records = samples(metrics_text, "llmrouter_ledger_records_total")
    assert sum(value for _, value in records) >= 2

    requests = samples(gateway_text, "llmrouter_gateway_requests_total")
    by_route = {
        (labels["method"], labels["route"], labels["status"]): value for labels, value in requests
    }
    assert by_route[("PUT", "/v1/admin/categories/{name}", "200")] == 1
    assert by_route[("DELETE", "/v1/admin/categories/{name}", "403")] == 1
    assert by_route[("POST", "/v1/admin/models/{name}/reset-breaker", "200")] == 1
    assert by_route[("POST", "/v1/chat/completions", "200")] == 2
    assert by_route[("GET", "other", "404")] == 1
    assert not any("code" in route or "sim-small" in route for _, route, _ in by_route)
