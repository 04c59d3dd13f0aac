"""A request's fallback models at the gateway: OpenRouter's ``models`` and LiteLLM's
``fallbacks`` become ``ChatRequest.fallback_models``; the router's errors about them name the
body's field."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from gateway.translate import parse_chat_request

from .support import Failure, FakeRouter

USER = {"role": "user", "content": "hi"}
CHAT = "/v1/chat/completions"


def parsed(**fields: Any) -> tuple[list[str], tuple[str, ...]]:
    request = parse_chat_request({"model": "gpt-4o", "messages": [USER], **fields})
    return list(request.chat.fallback_models), request.fallback_params


@pytest.mark.parametrize(
    ("fields", "names", "params"),
    [
        ({}, [], ()),
        ({"models": None, "fallbacks": None}, [], ()),
        ({"models": []}, [], ()),
        # OpenRouter: the primary listed again is dropped; the paths stay the body's.
        ({"models": ["gpt-4o", "a", "b"]}, ["a", "b"], ("models[1]", "models[2]")),
        ({"fallbacks": ["a", {"model": "b"}]}, ["a", "b"], ("fallbacks[0]", "fallbacks[1].model")),
        ({"fallbacks": ["a", "gpt-4o"]}, ["a"], ("fallbacks[0]",)),
    ],
)
def test_models_and_fallbacks_become_fallback_models(
    fields: dict[str, Any], names: list[str], params: tuple[str, ...]
) -> None:
    assert parsed(**fields) == (names, params)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"fallbacks": ["a", "nope"]}, "fallbacks[1]"),
        ({"models": ["gpt-4o", "a", "nope"]}, "models[2]"),
        ({"fallbacks": [{"model": "nope"}]}, "fallbacks[0].model"),
    ],
)
async def test_the_routers_field_is_named_as_in_the_body(
    client: httpx.AsyncClient, router: FakeRouter, fields: dict[str, Any], param: str
) -> None:
    index = len(parsed(**fields)[0]) - 1
    router.failure = Failure(
        grpc.StatusCode.INVALID_ARGUMENT,
        "fallback model 'nope' does not exist",
        reason="INVALID_REQUEST",
        field=f"chat.fallback_models[{index}]",
    )
    body = {"model": "gpt-4o", "messages": [USER], **fields}
    for path, stream in ((CHAT, False), (CHAT, True), ("/v1/route", False)):
        response = await client.post(path, json={**body, "stream": stream})
        assert response.status_code == 400
        assert response.json()["error"] == {
            "message": f"Invalid '{param}': fallback model 'nope' does not exist.",
            "type": "invalid_request_error",
            "param": param,
            "code": "invalid_request",
        }


async def test_an_unknown_model_is_named_model(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(
        grpc.StatusCode.NOT_FOUND,
        "model 'gpt-9' does not exist",
        reason="MODEL_NOT_FOUND",
        field="chat.model",
    )
    response = await client.post(CHAT, json={"model": "gpt-9", "messages": [USER]})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"
    assert response.json()["error"]["message"] == "model 'gpt-9' does not exist"
