"""Callers' error messages name no provider id and no upstream address unless the operator
switches ``router.expose_provider_in_errors`` on; the whole message still reaches the router's
log and the attempt's span (issue 18).

Real processes: metrics, two routers over the same fake upstream (one with the switch off, the
default, one with it on), a gateway in front of each, and an OTLP receiver. The upstream
answers a 400 whose body quotes its own base URL and host, as servers behind proxies do."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import httpx

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc
from tests.fakes import Behavior, FakeUpstream, running_upstream
from tests.fakes.otlp import running_receiver

from .stack import gateway_section, metrics_section, openai_models, router_section, stack

PROVIDER = "acme-internal-eu"
USER = [{"role": "user", "content": "hello"}]


def bad_request(upstream: FakeUpstream) -> Behavior:
    """OpenAI's 400 shape ("Error codes"), its message quoting where it is served from."""
    host = upstream.base_url.split("://", 1)[1]
    message = (
        f"Invalid value for 'temperature': see {upstream.base_url}/v1/docs/errors (gateway {host})"
    )
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return Behavior(status=400, raw_body=json.dumps({"error": error}).encode())


def router_body(upstream: FakeUpstream, expose: bool) -> str:
    return (
        f"expose_provider_in_errors = {'true' if expose else 'false'}\n"
        'default_chain = ["flaky", "ok"]\n'
        "[router.retry]\nattempts_per_model = 1\n"
        + openai_models(PROVIDER, upstream.base_url, ["bad", "flaky", "ok"])
    )


async def test_provider_ids_and_hosts_reach_callers_only_when_exposed(tmp_path: Path) -> None:
    async with running_upstream() as upstream, running_receiver() as receiver:
        upstream.set("bad", bad_request(upstream))
        upstream.set("flaky", Behavior(status=503))
        host = upstream.base_url.split("://", 1)[1]  # 127.0.0.1:<port>
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        async with stack(tmp_path, otel) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            routers = {}
            for name, expose in (("hidden", False), ("exposed", True)):
                body = router_body(upstream, expose)
                routers[name] = await s.start(
                    name, "router", router_section(tmp_path, name, metrics.port, body)
                )
                await s.start(
                    f"gateway-{name}",
                    "gateway",
                    gateway_section([routers[name].port], metrics.port, "auth_enabled = false"),
                )

            messages = {}
            for name in ("hidden", "exposed"):
                url = f"http://127.0.0.1:{s.port(f'gateway-{name}')}/v1/chat/completions"
                async with httpx.AsyncClient(timeout=30) as http:
                    reply = await http.post(url, json={"model": "bad", "messages": USER})
                    assert reply.status_code == 400, reply.text
                    messages[name] = reply.json()["error"]["message"]
                    streamed = await http.post(
                        url, json={"model": "bad", "messages": USER, "stream": True}
                    )
                    assert streamed.status_code == 400, streamed.text
                    assert streamed.json()["error"]["message"] == messages[name]

            # Off (the default): the upstream's words, without who or where it is.
            hidden = messages["hidden"]
            assert hidden == (
                "the upstream answered HTTP 400: Invalid value for 'temperature': see "
                "[upstream URL] (gateway [upstream host])"
            ), hidden
            for secret in (PROVIDER, host, "127.0.0.1", upstream.base_url):
                assert secret not in hidden
            # On: as the upstream said it, and which provider.
            exposed = messages["exposed"]
            assert exposed.startswith(f"{PROVIDER} answered HTTP 400: ")
            assert f"{upstream.base_url}/v1/docs/errors" in exposed
            assert f"(gateway {host})" in exposed

            # gRPC callers: a failed attempt before the answer, listed in the response.
            async with grpc.aio.insecure_channel(f"127.0.0.1:{routers['hidden'].port}") as ch:
                reply = await router_service_pb2_grpc.RouterServiceStub(ch).Complete(
                    router_service_pb2.CompleteRequest(
                        chat=chat_pb2.ChatRequest(
                            model="auto",
                            messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")],
                        )
                    ),
                    timeout=30,
                )
            assert [a.model for a in reply.attempts] == ["flaky", "ok"]
            assert reply.attempts[0].error_message == (
                "the upstream answered HTTP 503 (unavailable)"
            )
            assert reply.attempts[0].provider == PROVIDER  # the attempt's own field stays

            # The operator's side keeps all of it: the router's log (WARNING) and the spans.
            await receiver.wait_for(
                lambda spans: sum(sp.service == "llmrouter-router" for sp in spans) >= 6
            )
            log = s.services["hidden"].log()
            full = (
                f"{PROVIDER} answered HTTP 400: Invalid value for 'temperature': see "
                f"{upstream.base_url}/v1/docs/errors (gateway {host})"
            )
            assert log.count(full) == 2  # once per request (unary, streamed): the attempt's line
            assert f"{PROVIDER} answered HTTP 503 (unavailable)" in log
            assert any(full.encode() in raw for raw in receiver.raw)
            # The exposed router logs nothing more: its callers got the whole message.
            assert full not in s.services["exposed"].log()
