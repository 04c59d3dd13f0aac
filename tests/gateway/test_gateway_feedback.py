"""``POST /v1/feedback`` against the real gateway with a fake metrics service: what the body
becomes (RecordFeedback with the caller's restriction), 400s naming each bad field before
anything is sent, the metrics service's refusals as the client's 403 / 404, the key's rate
limit. (End to end with the real services: tests/integration/test_feedback.py.)"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from gateway import ApiKeyConfig, RunningGateway, hash_key
from llmrouter.v1 import metrics_service_pb2 as m

from .fake_metrics import FakeMetrics
from .support import AUTH, Failure, StartGateway

USER_KEY = "sk-user-feedback-0123456789"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"score": True}, "id"),
        ({"id": "", "score": True}, "id"),
        ({"id": "bad id", "score": True}, "id"),
        ({"id": "x1"}, "score"),
        ({"id": "x1", "score": "up"}, "score"),
        ({"id": "x1", "score": 3}, "scale"),
        ({"id": "x1", "score": 6, "scale": "stars"}, "score"),
        ({"id": "x1", "score": 0, "scale": "stars"}, "score"),
        ({"id": "x1", "score": 2.5, "scale": "stars"}, "score"),
        ({"id": "x1", "score": 0.5, "scale": "thumbs"}, "score"),
        ({"id": "x1", "score": 1.2, "scale": "fraction"}, "score"),
        ({"id": "x1", "score": -0.1, "scale": "fraction"}, "score"),
        ({"id": "x1", "score": True, "scale": "stars"}, "score"),
        ({"id": "x1", "score": 1, "scale": "percent"}, "scale"),
        ({"id": "x1", "score": 1, "scale": {"stars": 5}}, "scale"),
        ({"id": "x1", "score": [1], "scale": "stars"}, "score"),
        ({"id": ["x1"], "score": True}, "id"),
        ({"id": "x1", "score": True, "label": "x" * 65}, "label"),
        ({"id": "x1", "score": True, "label": "a\nb"}, "label"),
        ({"id": "x1", "score": True, "label": 5}, "label"),
        ({"id": "x1", "score": True, "comment": "x" * 2001}, "comment"),
        ({"id": "x1", "score": True, "source": "has space"}, "source"),
        ({"id": "x1", "score": True, "source": ""}, "source"),
        ({"id": "x1", "score": True, "rating": 1}, "rating"),
        ({"id": "x1", "score": True, "source": "judge:"}, "source"),
        ({"id": "x1", "score": True, "source": "JUDGE:"}, "source"),
    ],
)
async def test_a_bad_field_is_a_400_naming_it_and_nothing_is_sent(
    client: httpx.AsyncClient, metrics: FakeMetrics, body: dict[str, Any], param: str
) -> None:
    answer = await client.post("/v1/feedback", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    assert "RecordFeedback" not in metrics.requests


@pytest.mark.parametrize("given", [123, True, {"id": "r1"}])
async def test_an_id_that_is_no_string_says_so(
    client: httpx.AsyncClient, metrics: FakeMetrics, given: Any
) -> None:
    answer = await client.post("/v1/feedback", json={"id": given, "score": True})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "id"
    assert error["message"].startswith("'id' must be a string")
    assert "RecordFeedback" not in metrics.requests


async def test_reserved_sources_need_an_admin_key_in_any_case(
    start_gateway: StartGateway, metrics: FakeMetrics
) -> None:
    gateway: RunningGateway = await start_gateway(
        api_keys=(
            ApiKeyConfig(id="tests", sha256=hash_key(AUTH["authorization"][7:]), admin=True),
            ApiKeyConfig(id="user", sha256=hash_key(USER_KEY)),
        )
    )
    user = {"authorization": f"Bearer {USER_KEY}"}
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for source in ("judge:gpt-4o", "JUDGE:x", "Judge:gpt", "evaluation", "Cache", "EVALUATION"):
            answer = await http.post(
                "/v1/feedback", json={"id": "r1", "score": True, "source": source}, headers=user
            )
            assert answer.status_code == 403, (source, answer.text)
            assert answer.json()["error"]["param"] == "source"
        assert "RecordFeedback" not in metrics.requests
        # A user's own tags that merely contain the words are the user's.
        for source in ("judgement", "cache-2", "my.evaluation"):
            answer = await http.post(
                "/v1/feedback", json={"id": "r1", "score": True, "source": source}, headers=user
            )
            assert answer.status_code == 200, (source, answer.text)
        # An admin's judge, whatever the prefix's case, is sent as "judge:<model>".
        answer = await http.post(
            "/v1/feedback", json={"id": "r1", "score": True, "source": "JUDGE:gpt-4o"}, headers=AUTH
        )
        assert answer.status_code == 200, answer.text
    assert metrics.requests["RecordFeedback"][-1].feedback.source == "judge:gpt-4o"


@pytest.mark.parametrize(
    ("body", "scale", "raw"),
    [
        ({"score": True}, m.FEEDBACK_SCALE_THUMBS, 1.0),
        ({"score": False, "scale": "thumbs"}, m.FEEDBACK_SCALE_THUMBS, 0.0),
        ({"score": 0, "scale": "thumbs"}, m.FEEDBACK_SCALE_THUMBS, 0.0),
        ({"score": 1, "scale": "stars"}, m.FEEDBACK_SCALE_STARS, 1.0),
        ({"score": 5.0, "scale": "stars"}, m.FEEDBACK_SCALE_STARS, 5.0),
        ({"score": 1, "scale": "fraction"}, m.FEEDBACK_SCALE_FRACTION, 1.0),
        ({"score": 0.25, "scale": "fraction", "label": None}, m.FEEDBACK_SCALE_FRACTION, 0.25),
    ],
)
async def test_each_scale_reaches_the_metrics_service_as_given(
    client: httpx.AsyncClient, metrics: FakeMetrics, body: dict[str, Any], scale: int, raw: float
) -> None:
    answer = await client.post("/v1/feedback", json={"id": "chatcmpl-abc123", **body})
    assert answer.status_code == 200, answer.text
    (sent,) = metrics.requests["RecordFeedback"]
    assert (sent.feedback.request_id, sent.feedback.scale, sent.feedback.raw_score) == (
        "abc123",
        scale,
        raw,
    )
    assert sent.feedback.source == "user"


@pytest.mark.parametrize(
    ("given", "request_id"),
    [("chatcmpl-r1", "r1"), ("msg_r1", "r1"), ("resp_r1", "r1"), ("r1", "r1"), ("msg_", "msg_")],
)
async def test_a_front_doors_prefix_is_taken_off_the_id(
    client: httpx.AsyncClient, metrics: FakeMetrics, given: str, request_id: str
) -> None:
    assert (await client.post("/v1/feedback", json={"id": given, "score": True})).status_code == 200
    assert metrics.requests["RecordFeedback"][0].feedback.request_id == request_id


async def test_an_admin_key_is_unrestricted_a_user_key_restricted_to_its_own(
    start_gateway: StartGateway, metrics: FakeMetrics
) -> None:
    gateway: RunningGateway = await start_gateway(
        api_keys=(
            ApiKeyConfig(id="tests", sha256=hash_key(AUTH["authorization"][7:]), admin=True),
            ApiKeyConfig(id="user", sha256=hash_key(USER_KEY)),
        )
    )
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for headers in (AUTH, {"authorization": f"Bearer {USER_KEY}"}):
            answer = await http.post(
                "/v1/feedback", json={"id": "r1", "score": True}, headers=headers
            )
            assert answer.status_code == 200
    admin_call, user_call = metrics.requests["RecordFeedback"]
    assert (admin_call.caller_api_key_id, admin_call.caller_team_id) == ("", "")
    assert user_call.caller_api_key_id == "user"


@pytest.mark.parametrize(
    ("failure", "status", "param"),
    [
        (Failure(grpc.StatusCode.NOT_FOUND, "no usage", reason="REQUEST_NOT_FOUND"), 404, "id"),
        (Failure(grpc.StatusCode.PERMISSION_DENIED, "x", reason="FEEDBACK_NOT_OWNER"), 403, "id"),
        # An embeddings request's id: no answer to score.
        (
            Failure(grpc.StatusCode.FAILED_PRECONDITION, "x", reason="FEEDBACK_NOT_ANSWER"),
            400,
            "id",
        ),
        # The gateway's own credential refused: the server's fault, not the client's.
        (Failure(grpc.StatusCode.PERMISSION_DENIED, "x", reason="SCOPE_MISSING"), 502, None),
        (Failure(grpc.StatusCode.UNAVAILABLE, "down"), 503, None),
    ],
)
async def test_the_metrics_services_refusals_are_the_clients_errors(
    client: httpx.AsyncClient, metrics: FakeMetrics, failure: Failure, status: int, param: Any
) -> None:
    metrics.failure = failure
    answer = await client.post("/v1/feedback", json={"id": "r1", "score": True})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param
    if status == 404:
        # Retried while the answer's usage may still be on its way, then given up.
        assert 2 <= len(metrics.requests["RecordFeedback"]) <= 12


async def test_feedback_counts_against_the_keys_requests_per_minute(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(rate_limit_rpm=2)
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        codes = [
            (await http.post("/v1/feedback", json={"id": "r1", "score": True})).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]
