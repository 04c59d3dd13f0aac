"""The response cache in the router's Prometheus metrics, scraped from a real router's /metrics
and read with prometheus_client's own parser: every request through the cache is counted once
in ``llmrouter_cache_lookups_total`` by result, and a hit is not an upstream attempt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmrouter.shared_state import StateConfig
from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import CategoryConfig
from tests.conftest import free_port
from tests.fakes import FakeUpstream

from .conftest import model

MODELS = (model("a"), model("b", "anth"))
# Requests of this category never use the cache.
LEGAL = CategoryConfig(name="legal", chain=("b",), keywords=("contract",), cache=False)


def chat(text: str, cache: bool | None) -> router_service_pb2.CompleteRequest:
    request = chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)]
    )
    if cache is not None:
        request.cache = cache
    return router_service_pb2.CompleteRequest(chat=request)


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the router's /metrics: (sample name, sorted labels) -> value."""
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert reply.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def lookups(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        dict(labels)["result"]: value
        for (name, labels), value in samples.items()
        if name == "llmrouter_cache_lookups_total"
    }


def attempts(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, model: str
) -> float:
    """A succeeded-attempt figure of ``model``: the counter, or a histogram's ``_count``."""
    return sum(
        value
        for (sample, labels), value in samples.items()
        if sample == name
        and dict(labels).get("model") == model
        and dict(labels).get("status", "succeeded") == "succeeded"
    )


async def test_a_hit_is_counted_as_a_lookup_and_not_as_an_upstream_attempt(
    make_router: Any, upstream: FakeUpstream
) -> None:
    running, stub = await make_router(
        MODELS, ("a", "b"), categories=(LEGAL,), prometheus_port=free_port()
    )
    before = await scrape(running.prometheus_port)
    assert lookups(before) == {"hit": 0, "miss": 0, "bypass": 0, "error": 0}

    first = await stub.Complete(chat("hello there", cache=True))
    after_miss = await scrape(running.prometheus_port)
    assert lookups(after_miss) == {"hit": 0, "miss": 1, "bypass": 0, "error": 0}
    assert attempts(after_miss, "llmrouter_attempts_total", "a") == 1

    second = await stub.Complete(chat("hello there", cache=True))
    assert second.message.content == first.message.content
    assert upstream.calls("a") == 1
    after_hit = await scrape(running.prometheus_port)
    assert lookups(after_hit) == {"hit": 1, "miss": 1, "bypass": 0, "error": 0}
    # The hit made no upstream attempt: no attempt, no latency observation.
    for name in ("llmrouter_attempts_total", "llmrouter_attempt_duration_seconds_count"):
        assert attempts(after_hit, name, "a") == 1, name

    # Not looked up: the request did not ask, or its category keeps it out.
    await stub.Complete(chat("hello there", cache=None))
    await stub.Complete(chat("review this contract clause", cache=True))
    await stub.Complete(chat("review this contract clause", cache=True))
    after = await scrape(running.prometheus_port)
    assert lookups(after) == {"hit": 1, "miss": 1, "bypass": 3, "error": 0}
    assert attempts(after, "llmrouter_attempts_total", "a") == 2
    assert attempts(after, "llmrouter_attempts_total", "b") == 2


async def test_a_store_that_does_not_answer_counts_errors_and_serves(
    make_router: Any, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    # Redis at a port nobody listens on: each lookup fails and is served as a miss.
    state = StateConfig(
        backend="redis",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        connect_timeout_ms=100,
        operation_timeout_ms=100,
    )
    running, stub = await make_router(MODELS, ("a",), state=state, prometheus_port=free_port())
    for _ in range(2):
        reply = await stub.Complete(chat("hello there", cache=True))
        assert reply.message.content
    assert upstream.calls("a") == 2
    samples = await scrape(running.prometheus_port)
    assert lookups(samples) == {"hit": 0, "miss": 0, "bypass": 0, "error": 2}
    assert attempts(samples, "llmrouter_attempts_total", "a") == 2
    # Counted per request, logged once per outage (two lookups and two stores failed).
    outage = [r for r in caplog.records if r.getMessage().startswith("response cache:")]
    assert len(outage) == 1, [r.getMessage() for r in outage]
