"""OpenAI's response_format on Anthropic (issue 16, input 6): a forced tool whose input is the
answer, against the fake upstream's Messages API, whole and streamed; and a broken JSON answer
continued from its prefill, as text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router_svc.chat import ChatRequest, Message, ResponseFormat, StreamDelta, StreamEnd
from router_svc.providers import Provider, ProviderCall, create_provider
from tests.fakes import Behavior, FakeUpstream

from .conftest import fake_providers

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
FORMAT = ResponseFormat("json_schema", json.dumps({"name": "weather", "schema": SCHEMA}))


@pytest.fixture
async def claude(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LLMROUTER_TEST_ANTHROPIC_KEY", "test-key-not-secret")
    config = next(p for p in fake_providers(upstream) if p.name == "anth")
    provider: Provider = create_provider(config)
    yield provider
    await provider.aclose()


def request(**kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=(Message("user", "Weather in Paris?"),),
        response_format=FORMAT,
        **kwargs,
    )


async def test_a_whole_answer_is_the_tool_input_as_text(
    claude: Provider, upstream: FakeUpstream
) -> None:
    answer = await claude.complete(ProviderCall("m", request(), 5.0))

    assert json.loads(answer.content) == {"city": "Paris"}
    assert (answer.tool_calls, answer.finish_reason) == ((), "stop")
    assert upstream.requests[-1].json["tool_choice"] == {"type": "tool", "name": "weather"}


async def test_a_streamed_answer_is_the_tool_input_as_text_deltas(claude: Provider) -> None:
    events = [e async for e in claude.stream(ProviderCall("m", request(), 5.0))]

    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    deltas = [e for e in events if isinstance(e, StreamDelta)]
    assert all(not d.tool_calls for d in deltas)
    assert json.loads("".join(d.content for d in deltas)) == {"city": "Paris"}


async def test_a_continued_json_answer_is_prefilled_text_without_the_tool(
    claude: Provider, upstream: FakeUpstream
) -> None:
    call = ProviderCall("m", request(), 5.0, prefill='{"city": "Pa')
    [e async for e in claude.stream(call)]

    body = upstream.requests[-1].json
    assert "tools" not in body
    assert "tool_choice" not in body
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": '{"city": "Pa'}],
    }


async def test_a_thinking_models_reasoning_stays_beside_the_json_answer(
    claude: Provider, upstream: FakeUpstream
) -> None:
    upstream.set(None, Behavior(reasoning="Paris is a city: fill in city."))
    answer = await claude.complete(ProviderCall("m", request(), 5.0))
    assert answer.reasoning_content == "Paris is a city: fill in city."
    assert json.loads(answer.content) == {"city": "Paris"}

    events = [e async for e in claude.stream(ProviderCall("m", request(), 5.0))]
    deltas = [e for e in events if isinstance(e, StreamDelta)]
    assert "".join(d.reasoning_content for d in deltas) == "Paris is a city: fill in city."
    assert json.loads("".join(d.content for d in deltas)) == {"city": "Paris"}
