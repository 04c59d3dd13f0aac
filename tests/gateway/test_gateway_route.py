"""``POST /v1/route``, and the headers every response and every completion carries."""

from __future__ import annotations

import re

import grpc
import httpx
import pytest

from llmrouter.v1 import router_service_pb2

from .support import Failure, FakeRouter, start_message, summary

CHAT = "/v1/chat/completions"
BODY = {"model": "auto", "messages": [{"role": "user", "content": "fix my python bug"}]}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_route_shows_the_decision(client: httpx.AsyncClient, router: FakeRouter) -> None:
    router.route_response.candidates[0].deployment = "east"  # "" for a model without any
    response = await client.post("/v1/route", json=BODY, headers={"x-request-id": "route-1"})

    assert response.status_code == 200
    assert response.json() == {
        "category": "code",
        "category_source": "keywords",
        "estimated_prompt_tokens": 9000,
        "min_quality": None,
        "predictor_embedding_model": "",
        "candidates": [
            {
                "model": "sim-large",
                "provider": "simulated",
                "deployment": "east",
                "position": 0,
                "score": 0.8,
                "reason": "score 0.8",
            },
            {
                "model": "gpt-4o-mini",
                "provider": "openai",
                "deployment": "",
                "position": 1,
                "score": 0.0,
                "reason": "chain position 2",
            },
        ],
        "skipped": [
            {
                "model": "sim-small",
                "reason": "context_window",
                "detail": "needs 9000 tokens, window is 8192",
            }
        ],
    }
    chat = router.requests[0]
    assert chat.client_request_id == "route-1"
    assert chat.messages[0].content == "fix my python bug"


async def test_route_sends_routing_options(client: httpx.AsyncClient, router: FakeRouter) -> None:
    body = {**BODY, "model": "sim-small", "llmrouter": {"preferences": {"quality": 2}}}

    await client.post("/v1/route", json=body, headers={"x-llmrouter-source": "wt-3"})

    chat = router.requests[0]
    assert chat.model == "sim-small"
    assert chat.routing.preferences.quality == 2
    assert chat.caller.source == "wt-3"


async def test_route_shows_the_quality_bound_and_estimates(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    decision = router.route_response
    decision.min_quality = 0.7
    decision.predictor_embedding_model = "sim-embed"
    decision.candidates[0].quality.CopyFrom(
        router_service_pb2.QualityPrediction(
            quality=0.78, source="knn", samples=12, mean_similarity=0.5
        )
    )
    decision.candidates[1].quality.CopyFrom(
        router_service_pb2.QualityPrediction(
            quality=0.6, source="category", samples=40, lower=0.5, upper=0.7
        )
    )
    body = {**BODY, "llmrouter": {"min_quality": 0.7}}

    response = await client.post("/v1/route", json=body)

    assert router.requests[0].routing.min_quality == 0.7
    shown = response.json()
    assert (shown["min_quality"], shown["predictor_embedding_model"]) == (0.7, "sim-embed")
    assert [c["quality"] for c in shown["candidates"]] == [
        {
            "quality": 0.78,
            "source": "knn",
            "samples": 12,
            "mean_similarity": 0.5,
            "lower": None,
            "upper": None,
        },
        {
            "quality": 0.6,
            "source": "category",
            "samples": 40,
            "mean_similarity": 0.0,
            "lower": 0.5,
            "upper": 0.7,
        },
    ]


async def test_route_validates_like_chat_completions(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await client.post("/v1/route", json={"model": "auto", "messages": []})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"
    assert router.requests == []


async def test_route_errors_are_mapped(client: httpx.AsyncClient, router: FakeRouter) -> None:
    router.failure = Failure(
        grpc.StatusCode.NOT_FOUND, "no model named gpt-9", reason="UNKNOWN_MODEL"
    )

    response = await client.post("/v1/route", json={**BODY, "model": "gpt-9"})

    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "no model named gpt-9",
        "type": "not_found_error",
        "param": None,
        "code": "unknown_model",
    }


async def test_unknown_skip_reason_reads_unspecified(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.route_response.skipped_models[0].reason = 99  # type: ignore[assignment]

    response = await client.post("/v1/route", json=BODY)

    assert response.json()["skipped"][0]["reason"] == "unspecified"


# --- headers -------------------------------------------------------------------------------------


async def test_completion_carries_the_trace_id(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.complete_response.trace_id = TRACE_ID

    response = await client.post(CHAT, json=BODY)

    assert response.headers["x-llmrouter-trace-id"] == TRACE_ID


async def test_no_trace_id_header_without_a_trace(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 200
    assert "x-llmrouter-trace-id" not in response.headers


async def test_stream_carries_the_trace_id_and_attempts(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    start = start_message()
    start.start.trace_id = TRACE_ID
    start.start.attempt_count = 2
    start.start.fallback = True
    router.stream_messages = [start, summary()]

    response = await client.post(CHAT, json={**BODY, "stream": True})

    assert response.headers["x-llmrouter-trace-id"] == TRACE_ID
    assert response.headers["x-llmrouter-attempts"] == "2"
    assert response.headers["x-llmrouter-fallback"] == "true"


async def test_a_trace_id_unfit_for_a_header_is_left_out(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.complete_response.trace_id = "bad\nid"

    response = await client.post(CHAT, json=BODY)

    assert response.status_code == 200
    assert "x-llmrouter-trace-id" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/v1/models", {}),
        ("GET", "/v1/costs", {}),
        ("GET", "/v1/usage", {}),
        ("POST", "/v1/route", {}),
        ("POST", CHAT, {}),
        ("GET", "/v1/nope", {}),  # 404
        ("DELETE", CHAT, {}),  # 405
        ("GET", "/v1/models", {"authorization": ""}),  # 401
        ("GET", "/v1/costs?since=soon", {}),  # 400
    ],
)
async def test_every_response_has_a_server_generated_request_id(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    given = await client.request(
        method,
        path,
        json=BODY if method == "POST" else None,
        headers={**headers, "x-request-id": "r-42"},
    )
    generated = await client.request(
        method, path, json=BODY if method == "POST" else None, headers=headers
    )

    # Never the client's: its id only comes back as x-client-request-id.
    if (method, path) == ("POST", CHAT):  # the id the (fake) router gave the request
        assert given.headers["x-request-id"] == generated.headers["x-request-id"] == "req-1"
    else:
        assert re.fullmatch("[0-9a-f]{32}", given.headers["x-request-id"])
        assert re.fullmatch("[0-9a-f]{32}", generated.headers["x-request-id"])
        assert given.headers["x-request-id"] != generated.headers["x-request-id"]
    assert given.headers["x-client-request-id"] == "r-42"
    assert "x-client-request-id" not in generated.headers
