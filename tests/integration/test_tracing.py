"""One trace per request across gateway, router, every attempt, upstream HTTP and metrics,
exported over OTLP/gRPC to a real receiver."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.fakes.otlp import ReceivedSpan, TraceReceiver, running_receiver

from .conftest import started, write_config

CANARY = "canary-prompt-7f3a9c"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT, CONSUMER = 2, 3, 5  # OTLP span kinds


def providers(upstream: FakeUpstream) -> str:
    models = "".join(
        f'[[router.models]]\nname = "{n}"\nprovider = "fake"\n'
        "input_price_per_million = 1.0\noutput_price_per_million = 2.0\n"
        for n in ("a", "b", "c")
    )
    return f"""default_chain = ["a", "b", "c"]
[router.retry]
attempts_per_model = 1
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{upstream.base_url}/v1"
{models}"""


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as fake:
        yield fake


def otel_env(port: int) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "LLMROUTER_GATEWAY_AUTH_ENABLED": "false",
    }


async def test_failover_story_in_one_trace(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.set("a", Behavior(status=503))
    upstream.set("b", Behavior(status=503))
    async with running_receiver() as receiver:
        config = write_config(tmp_path, providers(upstream))
        async with started(config, otel_env(receiver.port)) as stack:
            async with httpx.AsyncClient(timeout=30) as http:
                reply = await http.post(
                    f"{stack.url}/v1/chat/completions",
                    json={"model": "auto", "messages": [{"role": "user", "content": CANARY}]},
                    headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"},
                )
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-llmrouter-model"] == "c"
            assert reply.headers["x-llmrouter-trace-id"] == CLIENT_TRACE
            await receiver.wait_for(
                lambda spans: (
                    sum(s.name == "usage.record" for s in spans) >= 3
                    and any(s.name.startswith("POST") for s in spans)
                )
            )
        check_story(receiver)
    # The attempt span's context reached the upstream in its traceparent header.
    sent = [r.headers.get("traceparent", "") for r in upstream.requests]
    assert all(h.startswith(f"00-{CLIENT_TRACE}-") for h in sent), sent


def check_story(receiver: TraceReceiver) -> None:
    spans = [s for s in receiver.spans if s.trace_id == CLIENT_TRACE]
    assert {s.service for s in spans} == {
        "llmrouter-gateway",
        "llmrouter-router",
        "llmrouter-metrics",
    }
    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)

    (gateway,) = by_name["POST /v1/chat/completions"]
    assert gateway.kind == SERVER
    assert gateway.parent_span_id == CLIENT_SPAN  # the client's traceparent is honoured
    (rpc,) = by_name["llmrouter.v1.RouterService/Complete"]
    assert rpc.kind == SERVER
    assert rpc.parent_span_id == gateway.span_id
    # The routing decision rides on the RPC's span (no span of its own).
    assert "route" not in by_name
    assert rpc.attributes["llmrouter.candidates"] == ["a", "b", "c"]

    attempts = sorted((s for s in spans if s.name.startswith("chat ")), key=lambda s: s.start_ns)
    assert [s.name for s in attempts] == ["chat a", "chat b", "chat c"]
    assert all(s.kind == CLIENT and s.parent_span_id == rpc.span_id for s in attempts)
    assert [s.attributes.get("error.type") for s in attempts] == [
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_UNAVAILABLE",
        None,
    ]
    assert [s.status_code for s in attempts] == [2, 2, 0]  # ERROR, ERROR, UNSET
    assert [s.attributes.get("llmrouter.fallback_reason") for s in attempts] == [
        None,
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_UNAVAILABLE",
    ]
    assert [s.attributes["llmrouter.attempt"] for s in attempts] == [1, 2, 3]
    served = attempts[2].attributes
    assert served["gen_ai.operation.name"] == "chat"
    assert served["gen_ai.provider.name"] == "openai"
    assert served["gen_ai.request.model"] == "c"
    assert served["gen_ai.response.model"] == "c"
    assert served["gen_ai.usage.output_tokens"] == 4
    assert served["gen_ai.usage.input_tokens"] > 0
    assert served["gen_ai.response.finish_reasons"] == ["stop"]
    assert served["server.address"].startswith("127.0.0.1:")
    assert served["llmrouter.cost_usd"] > 0
    assert "llmrouter.backoff_s" in served
    assert served["llmrouter.breaker_state"] == "closed"

    ledger = by_name["usage.record"]
    assert len(ledger) == 3
    assert {s.parent_span_id for s in ledger} == {s.span_id for s in attempts}
    assert all(s.kind == CONSUMER and s.service == "llmrouter-metrics" for s in ledger)

    # Prompts are not recorded unless content capture is switched on.
    for span in receiver.spans:
        assert CANARY not in repr(span.attributes)


async def test_dead_receiver_does_not_slow_requests(tmp_path: Path, upstream: FakeUpstream) -> None:
    # A receiver that accepts connections and never answers: the worst case for an exporter.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(100)
    try:
        config = write_config(tmp_path, providers(upstream))
        durations = []
        async with (
            started(config, otel_env(blackhole.getsockname()[1])) as stack,
            httpx.AsyncClient(timeout=30) as http,
        ):
            for i in range(30):
                began = time.monotonic()
                reply = await http.post(
                    f"{stack.url}/v1/chat/completions",
                    json={"model": "a", "messages": [{"role": "user", "content": f"q{i}"}]},
                )
                durations.append(time.monotonic() - began)
                assert reply.status_code == 200
    finally:
        blackhole.close()
    # An exporter on the request path would hold requests for its 10 s export timeout.
    assert max(durations) < 2.0, durations
