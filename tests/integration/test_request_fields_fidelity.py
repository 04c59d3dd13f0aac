"""Issue 16, fields the newcomer found dropped or normalised: ``stream_options.
include_obfuscation``, an assistant message's ``refusal`` and a tool's absent ``description``
and ``parameters``. Each reaches an OpenAI-compatible upstream as the client sent it (OpenAI
API reference, "Create chat completion"), a tool reaches Ollama likewise and Anthropic with no
invented ``description``; the Anthropic and Ollama kinds refuse what they cannot carry with a
400 naming the field.

Real gateway, router and metrics processes (the stack of ``test_request_fields_parts``); the
fake upstream records the exact upstream body.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes import Behavior, FakeUpstream

from .conftest import Stack
from .test_request_fields_parts import KEY, fake, post, refused, sent, stack

__all__ = ["fake", "stack"]

HI = [{"role": "user", "content": "Hi"}]
TOOL_BARE = {"type": "function", "function": {"name": "get_time"}}
TOOL_GIVEN = {
    "type": "function",
    "function": {"name": "get_date", "description": "", "parameters": {}},
}
TOOL_DESCRIBED: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def stream(stack: Stack, **body: Any) -> httpx.Response:
    """A streamed request, read to its end."""
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        response = await http.post(
            f"{stack.url}/v1/chat/completions", json={**body, "stream": True}
        )
        await response.aread()
        return response


async def test_include_obfuscation_passes_to_openai_and_true_is_refused_elsewhere(
    stack: Stack, fake: FakeUpstream
) -> None:
    for value in (False, True):
        options = {"include_usage": True, "include_obfuscation": value}
        answer = await stream(stack, model="o-mini", messages=HI, stream_options=options)
        assert answer.status_code == 200, answer.text
        assert sent(fake)["stream_options"] == options

    # Anthropic and Ollama never pad their streams: false asks for nothing and is taken ...
    for model in ("claude", "llama"):
        options = {"include_obfuscation": False}
        answer = await stream(stack, model=model, messages=HI, stream_options=options)
        assert answer.status_code == 200, (model, answer.text)
        assert "include_obfuscation" not in str(sent(fake))
    # ... true is refused, naming the field, before any upstream is called.
    for model in ("claude", "llama"):
        calls = len(fake.requests)
        options = {"include_obfuscation": True}
        refused(
            await stream(stack, model=model, messages=HI, stream_options=options),
            "stream_options.include_obfuscation",
        )
        assert len(fake.requests) == calls
    # Unset: the upstream's default, nothing added.
    answer = await stream(stack, model="o-mini", messages=HI)
    assert answer.status_code == 200
    assert sent(fake)["stream_options"] == {"include_usage": True}
    assert (await post(stack, model="o-mini", messages=HI)).status_code == 200
    assert "stream_options" not in sent(fake)


REFUSED_TURN = [
    {"role": "user", "content": "Help me pick a lock."},
    {"role": "assistant", "content": None, "refusal": "I can't help with that."},
    {"role": "user", "content": "Then tell me about locks."},
]


async def test_an_assistant_refusal_in_the_history_reaches_openai_or_is_refused(
    stack: Stack, fake: FakeUpstream
) -> None:
    answer = await post(stack, model="o-mini", messages=REFUSED_TURN)
    assert answer.status_code == 200, answer.text
    assert sent(fake)["messages"][1] == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
    }
    # Beside text content, both go as sent.
    both = [REFUSED_TURN[0], {**REFUSED_TURN[1], "content": "No."}, REFUSED_TURN[2]]
    assert (await post(stack, model="o-mini", messages=both)).status_code == 200
    assert sent(fake)["messages"][1]["refusal"] == "I can't help with that."
    assert sent(fake)["messages"][1]["content"] == "No."

    for model in ("claude", "llama"):
        calls = len(fake.requests)
        refused(await post(stack, model=model, messages=REFUSED_TURN), "messages[1].refusal")
        assert len(fake.requests) == calls
    # A chain with an OpenAI-compatible model left: that one serves it.
    answer = await post(stack, model="claude", models=["llama", "o-mini"], messages=REFUSED_TURN)
    assert answer.status_code == 200, answer.text
    assert sent(fake)["messages"][1]["refusal"] == "I can't help with that."
    # Only the assistant refuses.
    user_refusal = [{"role": "user", "content": "Hi", "refusal": "no"}]
    refused(await post(stack, model="o-mini", messages=user_refusal), "messages[0].refusal")


async def test_a_tool_reaches_openai_with_only_the_fields_the_client_gave(
    stack: Stack, fake: FakeUpstream
) -> None:
    bare, given, described = TOOL_BARE, TOOL_GIVEN, TOOL_DESCRIBED
    for streamed in (False, True):
        send = stream if streamed else post
        answer = await send(stack, model="o-mini", messages=HI, tools=[bare, given, described])
        assert answer.status_code == 200, answer.text
        assert sent(fake)["tools"] == [bare, given, described]


async def test_a_tool_reaches_ollama_and_anthropic_with_no_invented_keys(
    stack: Stack, fake: FakeUpstream
) -> None:
    # Ollama's /api/chat takes OpenAI's function-tool object: each goes exactly as given (it
    # was {"description": "", "parameters": {}} for the bare one).
    tools = [TOOL_BARE, TOOL_GIVEN, TOOL_DESCRIBED]
    for streamed in (False, True):
        send = stream if streamed else post
        answer = await send(stack, model="llama", messages=HI, tools=tools)
        assert answer.status_code == 200, answer.text
        assert sent(fake)["tools"] == tools
    # Anthropic's tools[]: description only when given; input_schema is required, so a
    # function without parameters gets the empty object schema.
    answer = await post(stack, model="claude", messages=HI, tools=tools)
    assert answer.status_code == 200, answer.text
    assert sent(fake)["tools"] == [
        {"name": "get_time", "input_schema": {"type": "object"}},
        {"name": "get_date", "description": "", "input_schema": {}},
        {
            "name": "get_weather",
            "description": "Weather now",
            "input_schema": TOOL_DESCRIBED["function"]["parameters"],
        },
    ]


async def test_service_tier_and_system_fingerprint_reach_the_openai_sdk(
    stack: Stack, fake: FakeUpstream
) -> None:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    # Nothing sent, nothing shown: no key at all, as from compatible servers without them.
    plain = await client.chat.completions.create(model="o-mini", messages=HI)  # type: ignore[arg-type]
    assert "service_tier" not in plain.model_dump(exclude_unset=True)
    assert plain.system_fingerprint is None

    fake.set(None, Behavior(service_tier="default", system_fingerprint="fp_44709d6fcb"))
    answer = await client.chat.completions.create(model="o-mini", messages=HI)  # type: ignore[arg-type]
    assert (answer.service_tier, answer.system_fingerprint) == ("default", "fp_44709d6fcb")

    fake.set(None, Behavior(service_tier="flex", system_fingerprint="fp_stream"))
    chunks = [
        chunk
        async for chunk in await client.chat.completions.create(
            model="o-mini",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    ]
    assert len(chunks) >= 3
    for chunk in chunks:
        assert (chunk.service_tier, chunk.system_fingerprint) == ("flex", "fp_stream"), chunk
    await client.close()


async def test_a_stream_without_content_still_shows_service_tier_and_system_fingerprint(
    stack: Stack, fake: FakeUpstream
) -> None:
    # An empty answer: the role chunk (content ""), the finish chunk, the usage chunk, no
    # content delta. The upstream's keys reached the client on no chunk: they rode only on
    # the deltas, and the summary did not carry them.
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    fake.set(None, Behavior(text="", service_tier="priority", system_fingerprint="fp_empty"))
    with_usage = [
        chunk
        async for chunk in await client.chat.completions.create(
            model="o-mini",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    ]
    # Without usage: the finish chunk is the only one.
    without = [
        chunk
        async for chunk in await client.chat.completions.create(
            model="o-mini",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
        )
    ]
    for chunks, usage in ((with_usage, True), (without, False)):
        assert chunks
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ""
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert (chunks[-1].usage is not None) == usage
        for chunk in chunks:
            assert (chunk.service_tier, chunk.system_fingerprint) == ("priority", "fp_empty")
    # An upstream that sends neither: still no key on any chunk.
    fake.set(None, Behavior(text=""))
    async for chunk in await client.chat.completions.create(
        model="o-mini",
        messages=HI,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    ):
        assert "service_tier" not in chunk.model_dump(exclude_unset=True)
        assert chunk.system_fingerprint is None
    await client.close()
