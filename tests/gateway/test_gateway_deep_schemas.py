"""A tool's parameter schema nested deeper than the router takes (64 levels) is a 400 naming
the client's own field on every door: ``tools[0].function.parameters`` on chat completions,
``tools[0].parameters`` on Responses, ``tools[0].input_schema`` on Messages. Before, the
router's refusal named its protobuf field (``tools[0].parameters_json``) on chat and Responses,
and nothing at all on Messages. Levels count values too: ``{"type": "object"}`` is 2 deep, so
an object 63 deep (its innermost values at 64) still passes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

HELLO = [{"role": "user", "content": "hi"}]


def nested(levels: int) -> dict[str, Any]:
    """Objects nested ``levels`` deep (1: ``{"type": "object"}``, itself 2 levels of JSON)."""
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(levels - 1):
        schema = {"type": "object", "items": schema}
    return schema


def chat(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    return "/v1/chat/completions", {"model": "auto", "messages": HELLO, "tools": [tool]}


def responses(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    tool = {"type": "function", "name": "f", "parameters": schema}
    return "/v1/responses", {"model": "auto", "input": "hi", "tools": [tool]}


def messages(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    tool = {"name": "f", "input_schema": schema}
    return "/v1/messages", {
        "model": "auto",
        "max_tokens": 10,
        "messages": HELLO,
        "tools": [tool],
    }


DOORS = [
    (chat, "tools[0].function.parameters"),
    (responses, "tools[0].parameters"),
    (messages, "tools[0].input_schema"),
]


@pytest.mark.parametrize(("door", "param"), DOORS)
@pytest.mark.parametrize("levels", [64, 100, 300])
async def test_too_deep_a_schema_is_a_400_naming_the_clients_field(
    client: httpx.AsyncClient, door: Any, param: str, levels: int
) -> None:
    path, body = door(nested(levels))
    response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "parameters_json" not in response.text
    assert param in error["message"]
    if "param" in error:  # OpenAI's shape names it; Anthropic's says it in the message
        assert error["param"] == param


@pytest.mark.parametrize(("door", "param"), DOORS)
async def test_sixty_four_levels_pass(client: httpx.AsyncClient, door: Any, param: str) -> None:
    path, body = door(nested(63))
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
